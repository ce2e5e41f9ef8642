"""An in-memory OpenCode for the client tests: routes, recorded requests, SSE bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio
import httpx
import orjson

from opencode_orchestrator.opencode import OpenCodeClient, RetryPolicy

BASE_URL = "http://opencode.test"

Reply = httpx.Response | Callable[[httpx.Request], Any] | BaseException


class SseBody(httpx.AsyncByteStream):
    """A streaming response body fed by an async generator of raw SSE text."""

    def __init__(self, chunks: AsyncIterator[str]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk.encode()


def sse_line(obj: object) -> str:
    """One SSE message whose data is ``obj`` as JSON (or raw text when a str)."""
    data = obj if isinstance(obj, str) else orjson.dumps(obj).decode()
    return f"data: {data}\n\n"


def sse_response(chunks: AsyncIterator[str]) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, stream=SseBody(chunks)
    )


async def events_then_end(*events: object) -> AsyncIterator[str]:
    """Send ``events`` and end the stream (a server that closed it)."""
    for event in events:
        yield sse_line(event)


async def events_then_stall(stalled: anyio.Event, *events: object) -> AsyncIterator[str]:
    """Send ``events``, set ``stalled``, and never send anything again."""
    for event in events:
        yield sse_line(event)
    stalled.set()
    await anyio.Event().wait()
    yield ""  # pragma: no cover - never reached


def event(kind: str, **properties: object) -> dict[str, object]:
    return {"type": kind, "properties": properties}


class FakeOpenCode:
    """Answers requests by ``(method, path)`` from queues of replies; records every request.

    The last reply of a queue repeats, so one reply serves every call.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = list(replies)

    def on_json(self, method: str, path: str, *bodies: object, status: int = 200) -> None:
        self.on(method, path, *(httpx.Response(status, json=b) for b in bodies))

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(
                404, json={"name": "NotFoundError", "data": {"message": "no route"}}
            )
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        result = reply(request)
        return result if isinstance(result, httpx.Response) else await result

    async def sleep(self, delay: float) -> None:
        # Retries and reconnects wait here: recorded, not slept, so tests stay fast.
        self.sleeps.append(delay)
        await anyio.lowlevel.checkpoint()

    def client(self, *, retry: RetryPolicy | None = None, **kwargs: Any) -> OpenCodeClient:
        return OpenCodeClient(
            BASE_URL,
            transport=httpx.MockTransport(self.handle),
            sleep=self.sleep,
            rand=lambda: 0.5,
            retry=retry,
            **kwargs,
        )


def body(request: httpx.Request) -> Any:
    return orjson.loads(request.content)


def assistant(
    session_id: str = "ses_1", *, error: Mapping[str, object] | None = None, **extra: object
) -> dict[str, object]:
    info: dict[str, object] = {
        "id": "msg_2",
        "sessionID": session_id,
        "role": "assistant",
        "time": {"created": 2, "completed": 3},
        "parentID": "msg_1",
        "modelID": "fake-model",
        "providerID": "fake",
        "mode": "build",
        "agent": "build",
        "path": {"cwd": "/p", "root": "/p"},
        "cost": 0.25,
        "tokens": {"input": 10, "output": 5, "reasoning": 1, "cache": {"read": 2, "write": 3}},
        "finish": "stop",
        **extra,
    }
    if error is not None:
        info["error"] = dict(error)
    return info


def user(session_id: str = "ses_1") -> dict[str, object]:
    return {
        "id": "msg_1",
        "sessionID": session_id,
        "role": "user",
        "time": {"created": 1},
        "agent": "build",
        "model": {"providerID": "fake", "modelID": "fake-model"},
    }


def text_part(text: str, session_id: str = "ses_1") -> dict[str, object]:
    return {
        "id": "prt_1",
        "sessionID": session_id,
        "messageID": "msg_2",
        "type": "text",
        "text": text,
    }


def session(session_id: str = "ses_1", **extra: object) -> dict[str, object]:
    return {
        "id": session_id,
        "slug": "s",
        "projectID": "p",
        "directory": "/p",
        "title": "t",
        "version": "1.18.33",
        "time": {"created": 1, "updated": 2},
        **extra,
    }
