"""The client's HTTP transport: httpx's API over aiohttp's connection pool.

httpx's own transport (httpcore + h11 on anyio) spent 1.5 ms of CPU per request
on this project's benchmark machine; the same requests through aiohttp's pool and
C parser cost 0.4 ms (``bench/bench_opencode.py``), and an SSE event 5 µs
instead of 21 µs. The mission core sends several requests and reads dozens of
events per unit, so the transport is most of its CPU.

``httpx_aiohttp.AiohttpTransport`` does the bridging. What this module adds is
the error mapping the retry policy depends on (:mod:`.http`): whether a failed
request may have reached the server. ``httpx_aiohttp`` maps every
``aiohttp.ClientConnectionError`` to :class:`httpx.ConnectTimeout` ("never
sent"), a server that drops the connection after reading a prompt included;
retrying that prompt would run the turn twice. Here::

    aiohttp error                        httpx error            sent?
    ClientConnectorError (refused, DNS)  ConnectError           no
    ConnectionTimeoutError               ConnectTimeout         no
    SocketTimeoutError / ServerTimeout   ReadTimeout            maybe
    ServerDisconnectedError              RemoteProtocolError    maybe
    ClientPayloadError, ClientOSError    ReadError              maybe
    InvalidURL                           UnsupportedProtocol    no
    any other ClientError                ProtocolError          maybe

The same mapping applies while a response body (an event stream) is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["OpenCodeTransport", "map_error"]


def map_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx error for an aiohttp failure (found in ``exc`` or its cause), or ``None``."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if cause is None:
        return None
    message = str(cause) or type(cause).__name__
    mapped: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout
    elif isinstance(cause, aiohttp.ClientConnectorError):
        mapped = httpx.ConnectError
    elif isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        mapped = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.ServerDisconnectedError):
        mapped = httpx.RemoteProtocolError
    elif isinstance(cause, aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        mapped = httpx.ReadError
    elif isinstance(cause, aiohttp.InvalidURL):
        mapped = httpx.UnsupportedProtocol
    elif isinstance(cause, aiohttp.ClientError):
        mapped = httpx.ProtocolError
    else:
        return None
    return mapped(f"{type(cause).__name__}: {message}", request=request)


class _MappedStream(httpx.AsyncByteStream):
    """A response body whose aiohttp failures surface as httpx errors."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as exc:
            mapped = map_error(exc, self._request)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class OpenCodeTransport(httpx.AsyncBaseTransport):
    """An :class:`httpx.AsyncBaseTransport` over aiohttp (asyncio only).

    Args:
        limits: The connection pool's bounds (``max_connections`` and
            ``keepalive_expiry`` are honoured).
    """

    def __init__(self, limits: httpx.Limits | None = None) -> None:
        self._inner = AiohttpTransport(limits=limits or httpx.Limits(max_connections=100))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; failures are mapped as the module docstring draws."""
        try:
            response = await self._inner.handle_async_request(request)
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as exc:
            mapped = map_error(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _MappedStream(response.stream, request)
        return response

    async def aclose(self) -> None:
        """Close the pool's connections."""
        await self._inner.aclose()
