"""The client's network wire: aiohttp's pool and C parser, with no httpx objects on the way.

httpx's own transport (httpcore + h11 on anyio) spent 1.5 ms of CPU per request
on this project's benchmark machine; the same request through httpx's API
bridged onto aiohttp's pool cost 0.4 ms, most of it httpx's ``Request``,
``URL`` and ``Response`` objects and their byte streams; aiohttp alone costs
about 0.1 ms. The mission core sends several requests and reads dozens of
events per unit, so :class:`AiohttpWire` talks to aiohttp directly: one
``ClientSession`` and one pooled connector per client, bytes in, a
:class:`~.wire.Reply` out. The event stream goes through the same pool and is
handed on as an :class:`httpx.Response` (one per connect) whose body reads
aiohttp's stream directly.

What this module adds to aiohttp is the error mapping the retry policy depends
on (:mod:`.http`): whether a failed request may have reached the server. aiohttp
itself does not say; its errors are mapped to httpx's, which do::

    aiohttp error                        httpx error            sent?
    ClientConnectorError (refused, DNS)  ConnectError           no
    ConnectionTimeoutError               ConnectTimeout         no
    SocketTimeoutError / ServerTimeout   ReadTimeout            maybe
    ServerDisconnectedError              RemoteProtocolError    maybe
    ClientPayloadError, ClientOSError    ReadError              maybe
    InvalidURL                           UnsupportedProtocol    no
    any other ClientError                ProtocolError          maybe

A server that drops the connection after reading a prompt is "maybe": retrying
that prompt would run the turn twice. The same mapping applies while a
response body (an event stream) is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiohttp
import httpx

from opencode_orchestrator.opencode.wire import SSE_HEADERS, Reply, Timeouts

__all__ = ["AiohttpWire", "map_error"]

# What aiohttp raises for a request that got no answer (its timeouts are TimeoutErrors).
_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError)

# The pool's bounds, as httpx.Limits(max_connections=100) had them.
_MAX_CONNECTIONS = 100
_KEEPALIVE_SECONDS = 5.0


def map_error(
    exc: BaseException, request: httpx.Request | None = None
) -> httpx.TransportError | None:
    """The httpx error that says what an aiohttp failure means, or ``None`` for any other error."""
    message = str(exc) or type(exc).__name__
    mapped: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        mapped = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        mapped = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        mapped = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        mapped = httpx.ReadError
    elif isinstance(exc, aiohttp.InvalidURL):
        mapped = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientError):
        mapped = httpx.ProtocolError
    else:
        return None
    return mapped(f"{type(exc).__name__}: {message}", request=request)


def _as_httpx(
    exc: aiohttp.ClientError | asyncio.TimeoutError, request: httpx.Request | None = None
) -> httpx.TransportError:
    # Every aiohttp failure maps; the fallback only keeps the type honest.
    return map_error(exc, request) or httpx.ProtocolError(str(exc), request=request)


class _AiohttpBody(httpx.AsyncByteStream):
    """An event stream's body: aiohttp's chunks as they arrive, failures as httpx errors."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _FAILURES as exc:
            raise _as_httpx(exc, self._request) from exc

    async def aclose(self) -> None:
        # An unfinished body closes the connection instead of returning it to the pool.
        self._response.release()


class AiohttpWire:
    """A :class:`~.wire.Wire` over one aiohttp ``ClientSession`` (asyncio only).

    The session is made on first use: aiohttp binds it to the running loop, and a
    client may be built before the loop runs.

    Args:
        timeouts: The per-phase timeouts (``write`` has no aiohttp counterpart).
    """

    def __init__(self, timeouts: Timeouts) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # aiohttp's "connect" bounds the wait for a pooled connection, "sock_connect"
        # the TCP connect: the pool and connect phases of httpx's timeouts.
        self._timeouts = {
            long: aiohttp.ClientTimeout(
                sock_connect=timeouts.connect,
                sock_read=timeouts.prompt if long else timeouts.read,
                connect=timeouts.pool,
            )
            for long in (False, True)
        }
        self._stream_timeout = aiohttp.ClientTimeout(sock_connect=timeouts.connect)

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        connector = aiohttp.TCPConnector(
            limit=_MAX_CONNECTIONS, keepalive_timeout=_KEEPALIVE_SECONDS
        )
        # OpenCode sets no cookies: a dummy jar spares every request a cookie lookup.
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        )
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        long: bool,
    ) -> Reply:
        """One round trip, its body read; failures are mapped as the module docstring draws."""
        session = self._session or self._open()
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._timeouts[long],
                allow_redirects=False,
            ) as response:
                return Reply(response.status, response.headers, await response.read())
        except _FAILURES as exc:
            raise _as_httpx(exc) from exc

    @asynccontextmanager
    async def _stream(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[httpx.Response]:
        session = self._session or self._open()
        request = httpx.Request("GET", url)  # only named by errors and the response
        try:
            response = await session.get(
                url,
                headers={**headers, **SSE_HEADERS},
                timeout=self._stream_timeout,
                allow_redirects=False,
                auto_decompress=False,  # the headers go to httpx, which decodes the body
            )
        except _FAILURES as exc:
            raise _as_httpx(exc, request) from exc
        try:
            yield httpx.Response(
                response.status,
                headers=response.raw_headers,
                stream=_AiohttpBody(response, request),
                request=request,
            )
        finally:
            response.release()

    def stream(
        self, url: str, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """``GET url`` as an event stream (see :meth:`.wire.Wire.stream`)."""
        return self._stream(url, headers)

    async def aclose(self) -> None:
        """Close the pool's connections; the wire cannot be used again."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
