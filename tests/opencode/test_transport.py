"""The aiohttp wire, over real sockets: do its errors say if a request was sent?

The retry policy (:mod:`opencode_orchestrator.opencode.http`) resends a prompt
only when it certainly never reached the server; these tests serve raw TCP so
the failure happens exactly where each one needs it.
"""

from __future__ import annotations

import socket

import aiohttp
import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from opencode_orchestrator.opencode import (
    OpenCodeClient,
    OpenCodeConnectionError,
    OpenCodeTimeoutError,
    RetryPolicy,
    Timeouts,
)
from opencode_orchestrator.opencode.transport import map_error
from tests.opencode.rawserver import raw_server as _server

pytestmark = pytest.mark.anyio

NO_PAUSE = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)


async def _hang_up(stream: SocketStream) -> None:
    """Read the request, then close without a word."""


async def _never_answer(stream: SocketStream) -> None:
    await anyio.sleep_forever()


async def _ok(stream: SocketStream) -> None:
    body = b'{"healthy": true, "version": "1.18.33"}'
    await stream.send(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )


def _client(url: str, *, read: float = 5.0) -> OpenCodeClient:
    return OpenCodeClient(
        url, retry=NO_PAUSE, timeouts=Timeouts(connect=1.0, read=read, prompt=read)
    )


async def test_requests_go_through_aiohttp() -> None:
    async with _server(_ok) as (url, heads), _client(url) as client:
        health = await client.health()
    assert health.healthy is True
    assert heads[0].startswith(b"GET /global/health")


async def test_a_refused_connection_is_never_sent_so_even_a_prompt_is_retried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with _client(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(OpenCodeConnectionError) as caught:
            await client.prompt_async("ses_x", "hello")
    assert caught.value.attempts == NO_PAUSE.max_attempts
    assert "ConnectError" in str(caught.value)


async def test_a_hang_up_after_the_prompt_was_read_is_not_retried() -> None:
    async with _server(_hang_up) as (url, heads), _client(url) as client:
        with pytest.raises(OpenCodeConnectionError) as caught:
            await client.prompt_async("ses_x", "hello")
    assert len(heads) == 1, "a prompt that may have arrived must not be sent again"
    assert "after the request was sent" in str(caught.value)


async def test_a_hang_up_is_retried_for_an_idempotent_call() -> None:
    async with _server(_hang_up) as (url, heads), _client(url) as client:
        with pytest.raises(OpenCodeConnectionError):
            await client.health()
    # aiohttp itself sends an idempotent request once more when the server drops it.
    assert NO_PAUSE.max_attempts <= len(heads) <= 2 * NO_PAUSE.max_attempts


async def test_no_answer_within_the_read_timeout_is_a_timeout_not_a_connect_failure() -> None:
    async with _server(_never_answer) as (url, heads), _client(url, read=0.2) as client:
        with pytest.raises(OpenCodeTimeoutError):
            await client.prompt_async("ses_x", "hello")
    assert len(heads) == 1


async def test_an_event_stream_cut_short_surfaces_as_an_httpx_transport_error() -> None:
    async def cut(stream: SocketStream) -> None:
        await stream.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n8\r\ndata: {}\r\n"
        )

    async with (
        _server(cut) as (url, _heads),
        _client(url) as client,
        client.http.open_sse("/event") as source,
    ):
        assert source.response.status_code == 200
        with pytest.raises(httpx.TransportError) as caught:
            async for _chunk in source.response.aiter_raw():
                pass
    assert isinstance(caught.value, httpx.ReadError | httpx.RemoteProtocolError)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (aiohttp.ConnectionTimeoutError(), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError(), httpx.ReadTimeout),
        (TimeoutError(), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut"), httpx.ReadError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.InvalidURL("nowhere"), httpx.UnsupportedProtocol),
        (aiohttp.ClientConnectionError("odd"), httpx.ProtocolError),
    ],
)
def test_each_aiohttp_failure_maps_to_the_httpx_error_that_says_if_it_was_sent(
    failure: BaseException, expected: type[httpx.TransportError]
) -> None:
    mapped = map_error(failure)
    assert type(mapped) is expected
    assert type(failure).__name__ in str(mapped)


def test_an_error_that_is_not_aiohttps_is_not_mapped() -> None:
    assert map_error(ValueError("mine")) is None
