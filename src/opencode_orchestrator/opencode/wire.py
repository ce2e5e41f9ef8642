"""What :mod:`.http` sends requests through: a :class:`Wire`, and what one answers.

A wire takes a request already built (method, absolute URL with its query,
headers, body bytes) and answers a :class:`Reply`: status, headers and the whole
body. It knows nothing of retries, auth or OpenCode's statuses; it only raises
the same :class:`httpx.TransportError` subclasses for the same failures, so
:mod:`.http` can tell whether a failed request may have reached the server.

Two wires::

    AiohttpWire (.transport)  the network: aiohttp's pool, no httpx objects on the way
    HttpxWire (here)          an injected httpx transport (httpx.MockTransport in tests,
                              the contract tests' recorder): httpx's API, as before

httpx's own objects (``Request``, ``URL``, ``Response`` and its byte streams)
cost about three times the CPU of the aiohttp round trip they wrapped, so the
network path builds none of them for an ordinary call; the event stream still
answers an :class:`httpx.Response` (built once per connect), which is what
``httpx_sse.EventSource`` and :mod:`.events` read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx
import orjson

__all__ = ["SSE_HEADERS", "HttpxWire", "Reply", "Timeouts", "Wire"]

SSE_HEADERS: Final = {"accept": "text/event-stream", "cache-control": "no-store"}
"""What a subscription asks for, as ``httpx_sse.aconnect_sse`` sends it."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait, per phase of a request.

    Attributes:
        connect: Establishing the TCP connection; small, so a dead server is seen quickly.
        read: Waiting for a response to an ordinary call.
        write: Sending the request (honoured by httpx transports only; aiohttp
            has no write timeout, and a request body here is a few KiB).
        pool: Waiting for a free pooled connection.
        prompt: Reading the answer of a call that runs a whole turn (blocking prompt,
            shell, command). 30 minutes: long enough for an agent turn with tools,
            bounded so a wedged server is reported rather than waited on forever.
            ``None`` waits forever.
    """

    connect: float = 2.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 10.0
    prompt: float | None = 1800.0

    def httpx(self, read: float | None = None, *, long: bool = False) -> httpx.Timeout:
        """The :class:`httpx.Timeout` for an ordinary (or, with ``long``, a turn-long) call."""
        chosen = read if read is not None else (self.prompt if long else self.read)
        return httpx.Timeout(connect=self.connect, read=chosen, write=self.write, pool=self.pool)


class Reply:
    """A response read to its end: what :mod:`.http` needs of it and nothing more.

    Attributes:
        status: The HTTP status code.
        headers: The response headers; case-insensitive lookup.
        content: The body, decoded from any content encoding.
    """

    __slots__ = ("content", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status = status
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        """The body as text (OpenCode answers UTF-8; undecodable bytes are replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: It is not JSON (``orjson.JSONDecodeError``).
        """
        return orjson.loads(self.content)


class Wire(Protocol):
    """One server's connection pool, as :class:`~.http.OpenCodeHttp` uses it.

    Every failure to get an answer is raised as the :class:`httpx.TransportError`
    subclass that says whether the request may have been sent (the table in
    :mod:`.transport`); a status of any value is an answer, not a failure.
    """

    async def send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        long: bool,
    ) -> Reply:
        """One round trip, its body read and its connection back in the pool.

        ``long`` reads with :attr:`Timeouts.prompt` instead of :attr:`Timeouts.read`.
        """
        ...

    def stream(
        self, url: str, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """``GET url`` with :data:`SSE_HEADERS` and no read timeout; the body is left to read.

        The response (whatever its status) is closed when the context exits.
        """
        ...

    async def aclose(self) -> None:
        """Close the pool's connections."""
        ...


class HttpxWire:
    """A :class:`Wire` over an :class:`httpx.AsyncBaseTransport`, for tests and recorders.

    Requests are handed straight to the transport (no :class:`httpx.AsyncClient`:
    the URL, query and auth header come built), with the timeouts an
    ``AsyncClient`` would put in their extensions.

    Args:
        transport: Any httpx transport; it raises httpx's errors itself.
        timeouts: The per-phase timeouts.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport, timeouts: Timeouts) -> None:
        self._transport = transport
        # Request extensions carry the timeouts as httpx's client would set them.
        self._extensions = {
            False: {"timeout": timeouts.httpx().as_dict()},
            True: {"timeout": timeouts.httpx(long=True).as_dict()},
        }
        stream_timeout = httpx.Timeout(
            connect=timeouts.connect, read=None, write=timeouts.write, pool=None
        )
        self._stream_extensions = {"timeout": stream_timeout.as_dict()}

    async def send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        long: bool,
    ) -> Reply:
        """One round trip through the transport (see :meth:`Wire.send`)."""
        request = httpx.Request(
            method, url, content=body, headers=headers, extensions=self._extensions[long]
        )
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return Reply(response.status_code, response.headers, response.content)

    @asynccontextmanager
    async def _stream(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[httpx.Response]:
        request = httpx.Request(
            "GET", url, headers={**headers, **SSE_HEADERS}, extensions=self._stream_extensions
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            yield response
        finally:
            await response.aclose()

    def stream(
        self, url: str, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """The event stream's response (see :meth:`Wire.stream`)."""
        return self._stream(url, headers)

    async def aclose(self) -> None:
        """Close the transport."""
        await self._transport.aclose()
