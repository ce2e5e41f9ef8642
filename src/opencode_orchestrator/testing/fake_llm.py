"""An OpenAI-compatible chat endpoint on 127.0.0.1 that acts out ``@script`` directives.

A real ``opencode serve`` is pointed at it as its only provider (see
:mod:`~opencode_orchestrator.testing.real_opencode`), so tests get real
OpenCode behaviour with answers they choose. It runs in-process on the
caller's event loop: uvicorn serves a socket bound before start-up, so the
port is known (and connections queue in the kernel) before the server runs.

How each ``POST /v1/chat/completions`` is answered is decided by
:func:`~opencode_orchestrator.testing.fake_llm_turns.plan_turn` from the
directive in the newest user message, unless a :data:`Responder` is given
(the scenario player of :mod:`~opencode_orchestrator.testing.scenario_player`
is one): it sees each request body and its headers and returns the plan.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from opencode_orchestrator.testing.fake_llm_turns import (
    MODEL_ID,
    TurnPlan,
    completion_body,
    error_body,
    is_title_request,
    plan_turn,
    stream_chunks,
)
from opencode_orchestrator.testing.script import Fault

__all__ = ["FakeLLM", "Responder"]

Responder = Callable[[dict[str, Any], Mapping[str, str]], TurnPlan]
"""Decides the answer to one chat request from its JSON body and its HTTP headers."""

_LOG: Final = logging.getLogger("uvicorn.error")


class _DieMidStream(Exception):  # noqa: N818 - a signal, not an error condition
    """Raised inside a stream to make uvicorn drop the connection (the ``die`` fault)."""


class _HideDeliberateDrops(logging.Filter):
    # uvicorn logs every exception that ends a response; the deliberate drop is
    # not news, while any other exception still shows.
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not _contains_die(exc)


def _contains_die(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if isinstance(exc, _DieMidStream):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_contains_die(inner) for inner in exc.exceptions)
    return _contains_die(exc.__cause__ or exc.__context__)


class FakeLLM:
    """The running endpoint: its URL and every request body it received.

    Use :meth:`running`; the constructor only builds the app.
    """

    def __init__(self, *, retry_after: float = 0.5, responder: Responder | None = None) -> None:
        self.retry_after = retry_after
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._fault_calls: Counter[str] = Counter()
        self._port = 0
        self._open_streams = 0
        self._no_streams = anyio.Event()
        self._no_streams.set()
        self._stream_opened = anyio.Event()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    @property
    def base_url(self) -> str:
        """The provider ``baseURL`` to give OpenCode, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Recorded requests other than title generation."""
        return [body for body in self.requests if not is_title_request(body)]

    @property
    def open_streams(self) -> int:
        """Answer streams in progress (a ``delay`` counts from its start)."""
        return self._open_streams

    async def wait_stream_open(self) -> None:
        """Return once an answer stream is in progress (OpenCode is mid-call)."""
        while self._open_streams == 0:
            await self._stream_opened.wait()

    async def wait_streams_closed(self) -> None:
        """Return once no answer stream is open (e.g. after OpenCode aborts one)."""
        await self._no_streams.wait()

    @classmethod
    @asynccontextmanager
    async def running(
        cls, *, retry_after: float = 0.5, responder: Responder | None = None
    ) -> AsyncIterator[FakeLLM]:
        """Serve on an ephemeral port for the duration of the block.

        Args:
            retry_after: seconds a ``rate_limit`` answer tells the client to wait.
            responder: decides every answer instead of the ``@script`` directives.
        """
        llm = cls(retry_after=retry_after, responder=responder)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        llm._port = sock.getsockname()[1]
        config = uvicorn.Config(
            llm.app, lifespan="off", log_level="warning", http="h11", access_log=False
        )
        server = uvicorn.Server(config)
        drop_filter = _HideDeliberateDrops()
        _LOG.addFilter(drop_filter)
        try:
            stopped = anyio.Event()

            async def serve() -> None:
                try:
                    await server.serve([sock])
                finally:
                    stopped.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(serve)
                try:
                    yield llm
                finally:
                    # force_exit: an open stream (a long ``delay``) must not hold shutdown.
                    server.should_exit = server.force_exit = True
                    with anyio.move_on_after(5, shield=True):
                        await stopped.wait()
                    tg.cancel_scope.cancel()
        finally:
            _LOG.removeFilter(drop_filter)
            sock.close()

    async def _models(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "fake"}],
            }
        )

    async def _chat(self, request: Request) -> Response:
        body: dict[str, Any] = orjson.loads(await request.body())
        self.requests.append(body)
        if self.responder is not None:
            plan = self.responder(body, request.headers)
        else:
            plan = plan_turn(body, self._fault_calls)
        if plan.fault in {Fault.API_ERROR, Fault.RATE_LIMIT, Fault.CONTEXT_OVERFLOW}:
            if not await _sleep_unless_disconnected(request, plan.delay):
                return Response(status_code=499)
            return self._fault_response(plan)
        if not body.get("stream"):
            if not await _sleep_unless_disconnected(request, plan.delay):
                return Response(status_code=499)
            return JSONResponse(completion_body(plan))
        return StreamingResponse(
            self._tracked(_sse(plan)),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache"},
        )

    async def _tracked(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        self._open_streams += 1
        self._no_streams = anyio.Event()
        self._stream_opened.set()
        self._stream_opened = anyio.Event()
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            self._open_streams -= 1
            if self._open_streams == 0:
                self._no_streams.set()

    def _fault_response(self, plan: TurnPlan) -> Response:
        status, payload = error_body(plan)
        headers: dict[str, str] = {}
        if plan.fault is Fault.RATE_LIMIT:
            # Both forms: OpenCode prefers the millisecond one, other clients read seconds.
            headers["retry-after-ms"] = str(int(self.retry_after * 1000))
            headers["retry-after"] = str(max(1, math.ceil(self.retry_after)))
        return JSONResponse(payload, status_code=status, headers=headers)


async def _sleep_unless_disconnected(request: Request, seconds: float) -> bool:
    """Sleep ``seconds``; ``False`` at once if the client goes away meanwhile."""
    if seconds <= 0:
        return True
    disconnected = False
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal disconnected
            while (await request.receive())["type"] != "http.disconnect":
                pass
            disconnected = True
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        await anyio.sleep(seconds)
        tg.cancel_scope.cancel()
    return not disconnected


async def _sse(plan: TurnPlan) -> AsyncIterator[bytes]:
    # Starlette cancels this generator when the client disconnects, so a long
    # delay (a "hang") ends as soon as OpenCode aborts the request.
    if plan.delay > 0:
        await anyio.sleep(plan.delay)
    created = int(time.time())
    for index, chunk in enumerate(stream_chunks(plan, created)):
        if plan.fault is Fault.DIE and index == 2:
            raise _DieMidStream
        yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"
