"""The wires a client sends through: aiohttp straight for the network, httpx when injected.

The aiohttp wire is what every client without an injected transport uses (the
simulator and subprocess tests included); these tests check over raw sockets
that it sends what httpx's API sent (auth, query, body) and that statuses,
Retry-After, compressed bodies and event streams come back as they did.
"""

from __future__ import annotations

import base64
import gzip
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from opencode_orchestrator.opencode import (
    OpenCodeClient,
    OpenCodeNotFoundError,
    OpenCodeServerError,
    RetryPolicy,
    Timeouts,
)
from opencode_orchestrator.opencode.transport import AiohttpWire
from opencode_orchestrator.opencode.wire import HttpxWire
from tests.opencode.fakes import session
from tests.opencode.rawserver import answers, raw_server, response

pytestmark = pytest.mark.anyio

JSON = "content-type: application/json"
NO_PAUSE = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)


class Recorded:
    """Waits recorded instead of slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.waits.append(delay)


def _client(url: str, **options: Any) -> OpenCodeClient:
    return OpenCodeClient(url, timeouts=Timeouts(connect=1.0, read=5.0), **options)


def _head(request: bytes) -> list[str]:
    """The request line and the header lines, lowercased (header names are case-blind)."""
    return request.partition(b"\r\n\r\n")[0].decode().lower().split("\r\n")


def _query(request: bytes) -> dict[str, list[str]]:
    target = request.split(b" ", 2)[1].decode()
    return parse_qs(urlsplit(target).query)


async def test_the_network_goes_through_aiohttp_and_an_injected_transport_through_httpx() -> None:
    def never(_request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request is sent")

    async with OpenCodeClient("http://opencode.test") as owned:
        assert isinstance(owned.http._wire, AiohttpWire)
    async with OpenCodeClient("http://opencode.test", transport=httpx.MockTransport(never)) as fake:
        assert isinstance(fake.http._wire, HttpxWire)


async def test_auth_directory_query_and_json_body_reach_the_server() -> None:
    created = response("200 OK", orjson.dumps(session("ses_new")), JSON)
    listed = response("200 OK", orjson.dumps([session("ses_new")]), JSON)
    async with (
        raw_server(answers(created, listed)) as (url, requests),
        _client(url, password="s3cret", directory="/work/my proj") as client,
    ):
        result = await client.create_session(title="t")
        await client.list_sessions(roots=True, limit=3)
    assert result.id == "ses_new"
    post, get = requests
    auth = "authorization: basic " + base64.b64encode(b"opencode:s3cret").decode().lower()
    assert post.startswith(b"POST /session?directory=")
    assert auth in _head(post)
    assert "content-type: application/json" in _head(post)
    assert orjson.loads(post.partition(b"\r\n\r\n")[2]) == {"title": "t"}
    assert _query(post) == {"directory": ["/work/my proj"]}
    assert get.startswith(b"GET /session?")
    assert _query(get) == {"directory": ["/work/my proj"], "roots": ["true"], "limit": ["3"]}


async def test_a_status_is_an_answer_mapped_to_its_typed_error() -> None:
    missing = response("404 Not Found", b'{"name": "NotFoundError"}', JSON)
    async with raw_server(answers(missing)) as (url, requests), _client(url) as client:
        with pytest.raises(OpenCodeNotFoundError) as caught:
            await client.get_session("ses_gone")
    assert caught.value.body == {"name": "NotFoundError"}
    assert len(requests) == 1


async def test_a_5xx_is_retried_for_an_idempotent_call_but_not_for_a_prompt() -> None:
    down = response("503 Service Unavailable", b"down")
    ok = response("200 OK", b'{"healthy": true, "version": "1.18.33"}', JSON)
    async with (
        raw_server(answers(down, ok)) as (url, requests),
        _client(url, retry=NO_PAUSE) as client,
    ):
        assert (await client.health()).healthy is True
    assert len(requests) == 2
    async with (
        raw_server(answers(down)) as (url, requests),
        _client(url, retry=NO_PAUSE) as client,
    ):
        with pytest.raises(OpenCodeServerError) as caught:
            await client.prompt_async("ses_1", "hi")
    assert caught.value.body == "down"
    assert len(requests) == 1


async def test_429_waits_for_its_retry_after_even_for_a_prompt() -> None:
    limited = response("429 Too Many Requests", b"{}", JSON, "Retry-After: 0.25")
    accepted = response("204 No Content")
    sleep = Recorded()
    async with (
        raw_server(answers(limited, accepted)) as (url, requests),
        _client(url, sleep=sleep) as client,
    ):
        await client.prompt_async("ses_1", "hi")
    assert sleep.waits == [0.25]
    assert len(requests) == 2


async def test_a_compressed_body_is_decoded() -> None:
    body = gzip.compress(orjson.dumps(session("ses_z")))
    zipped = response("200 OK", body, JSON, "content-encoding: gzip")
    async with raw_server(answers(zipped)) as (url, _requests), _client(url) as client:
        assert (await client.get_session("ses_z")).id == "ses_z"


async def test_the_event_stream_shares_the_pool_and_asks_for_events() -> None:
    sse = b'data: {"type": "server.connected", "properties": {}}\n\n'
    stream = response("200 OK", sse, "content-type: text/event-stream")
    async with (
        raw_server(answers(stream)) as (url, requests),
        _client(url, password="pw", directory="/p") as client,
        client.http.open_sse("/event") as source,
    ):
        assert source.response.headers["content-type"] == "text/event-stream"
        text = "".join([chunk async for chunk in source.response.aiter_text()])
    assert text == sse.decode()
    head = _head(requests[0])
    assert head[0].startswith("get /event?")
    assert _query(requests[0]) == {"directory": ["/p"]}
    assert "accept: text/event-stream" in head
    assert "cache-control: no-store" in head
    assert any(line.startswith("authorization: basic ") for line in head)


async def test_a_refused_subscription_is_an_http_error_with_its_body() -> None:
    missing = response("404 Not Found", b'{"name": "NotFoundError"}', JSON)
    async with raw_server(answers(missing)) as (url, _requests), _client(url) as client:
        with pytest.raises(OpenCodeNotFoundError) as caught:
            async with client.http.open_sse("/event"):
                pass
    assert caught.value.body == {"name": "NotFoundError"}


async def test_a_closed_wire_refuses_to_open_a_new_pool() -> None:
    wire = AiohttpWire(Timeouts())
    await wire.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await wire.send("GET", "http://127.0.0.1:9/", body=None, headers={}, long=False)
