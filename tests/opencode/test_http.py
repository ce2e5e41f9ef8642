"""The transport: auth, directory, error mapping, and what is retried when."""

from __future__ import annotations

import base64
import socket

import anyio
import httpx
import pytest

from opencode_orchestrator.opencode import (
    OpenCodeAuthError,
    OpenCodeBadRequestError,
    OpenCodeClient,
    OpenCodeConflictError,
    OpenCodeConnectionError,
    OpenCodeNotFoundError,
    OpenCodeProtocolError,
    OpenCodeRateLimitedError,
    OpenCodeServerError,
    OpenCodeTimeoutError,
    RetryPolicy,
    Timeouts,
)
from tests.opencode.fakes import BASE_URL, FakeOpenCode, session

pytestmark = pytest.mark.anyio

HEALTH = {"healthy": True, "version": "1.18.33"}


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def test_password_becomes_basic_auth_and_directory_rides_on_every_request() -> None:
    fake = FakeOpenCode()
    fake.on_json("GET", "/global/health", HEALTH)
    fake.on_json("GET", "/session", [session()])
    async with fake.client(password="s3cret", directory="/work/proj") as client:
        await client.health()
        await client.list_sessions(roots=True)
    expected = "Basic " + base64.b64encode(b"opencode:s3cret").decode()
    assert [r.headers["authorization"] for r in fake.requests] == [expected, expected]
    assert [r.url.params["directory"] for r in fake.requests] == ["/work/proj", "/work/proj"]
    assert fake.requests[1].url.params["roots"] == "true"


async def test_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCODE_SERVER_PASSWORD", "from-env")
    fake = FakeOpenCode()
    fake.on_json("GET", "/global/health", HEALTH)
    async with fake.client() as client:
        await client.health()
    assert fake.requests[0].headers["authorization"].startswith("Basic ")
    monkeypatch.delenv("OPENCODE_SERVER_PASSWORD")
    async with fake.client() as client:
        await client.health()
    assert "authorization" not in fake.requests[1].headers
    assert "directory" not in fake.requests[1].url.params


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, {"_tag": "BadRequest"}, OpenCodeBadRequestError),
        (401, "Unauthorized", OpenCodeAuthError),
        (
            404,
            {"name": "NotFoundError", "data": {"message": "Session not found"}},
            OpenCodeNotFoundError,
        ),
        (
            409,
            {"_tag": "SessionBusyError", "sessionID": "ses_1", "message": "busy"},
            OpenCodeConflictError,
        ),
    ],
)
async def test_client_errors_map_to_typed_errors_without_retry(
    status: int, body: object, cls: type[Exception]
) -> None:
    fake = FakeOpenCode()
    reply = (
        httpx.Response(status, json=body)
        if not isinstance(body, str)
        else httpx.Response(status, text=body)
    )
    fake.on("GET", "/session/ses_1", reply)
    async with fake.client() as client:
        with pytest.raises(cls) as caught:
            await client.get_session("ses_1")
    assert getattr(caught.value, "status", None) == status
    assert getattr(caught.value, "body", None) == body
    assert len(fake.requests) == 1


async def test_429_waits_for_retry_after_then_succeeds_for_a_non_idempotent_post() -> None:
    fake = FakeOpenCode()
    fake.on(
        "POST",
        "/session",
        httpx.Response(429, headers={"Retry-After": "0.01"}, json={"message": "slow down"}),
        httpx.Response(200, json=session()),
    )
    async with fake.client() as client:
        created = await client.create_session(title="t")
    assert created.id == "ses_1"
    assert fake.sleeps == [0.01]
    assert len(fake.calls("POST", "/session")) == 2


async def test_429_retry_after_is_capped_and_reported_when_attempts_run_out() -> None:
    fake = FakeOpenCode()
    fake.on("GET", "/session/status", httpx.Response(429, headers={"Retry-After": "3600"}))
    policy = RetryPolicy(max_attempts=3, max_retry_after=0.5)
    async with fake.client(retry=policy) as client:
        with pytest.raises(OpenCodeRateLimitedError) as caught:
            await client.session_status()
    assert fake.sleeps == [0.5, 0.5]
    assert caught.value.retry_after == 3600.0
    assert caught.value.code == "opencode.http.rate_limited"


async def test_non_idempotent_post_is_not_retried_on_503() -> None:
    fake = FakeOpenCode()
    fake.on("POST", "/session/ses_1/prompt_async", httpx.Response(503, text="down"))
    async with fake.client() as client:
        with pytest.raises(OpenCodeServerError) as caught:
            await client.prompt_async("ses_1", "hi")
    assert caught.value.status == 503
    assert len(fake.requests) == 1
    assert fake.sleeps == []


async def test_idempotent_calls_are_retried_on_5xx_with_backoff() -> None:
    fake = FakeOpenCode()
    fake.on(
        "POST",
        "/session/ses_1/abort",
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(200, json=True),
    )
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    async with fake.client(retry=policy) as client:
        assert await client.abort("ses_1") is True
    # rand is 0.5: half of the 0.1, 0.2 ceilings.
    assert fake.sleeps == pytest.approx([0.05, 0.1])


async def test_a_connect_error_is_retried_even_for_a_prompt() -> None:
    fake = FakeOpenCode()
    fake.on("POST", "/session/ses_1/prompt_async", _refused, httpx.Response(204))
    async with fake.client() as client:
        await client.prompt_async("ses_1", "hi")
    assert len(fake.requests) == 2


async def test_a_read_error_after_sending_a_prompt_is_not_retried() -> None:
    fake = FakeOpenCode()

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    fake.on("POST", "/session/ses_1/message", broken)
    async with fake.client() as client:
        with pytest.raises(OpenCodeConnectionError) as caught:
            await client.prompt("ses_1", "hi")
    assert "after the request was sent" in str(caught.value)
    assert len(fake.requests) == 1


async def test_a_read_timeout_is_retried_only_when_idempotent() -> None:
    fake = FakeOpenCode()

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake.on("GET", "/session/status", slow, httpx.Response(200, json={}))
    fake.on("POST", "/session", slow)
    async with fake.client() as client:
        assert await client.session_status() == {}
        with pytest.raises(OpenCodeTimeoutError):
            await client.create_session()
    assert len(fake.calls("POST", "/session")) == 1


async def test_unreachable_after_every_attempt_names_the_url() -> None:
    fake = FakeOpenCode()
    fake.on("GET", "/global/health", _refused)
    async with fake.client(retry=RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(OpenCodeConnectionError) as caught:
            await client.health()
    assert caught.value.attempts == 3
    assert BASE_URL in str(caught.value)
    assert len(fake.sleeps) == 2


async def test_non_json_success_is_a_protocol_error() -> None:
    fake = FakeOpenCode()
    fake.on("GET", "/global/health", httpx.Response(200, text="<html>"))
    async with fake.client() as client:
        with pytest.raises(OpenCodeProtocolError):
            await client.health()


async def test_wrong_shape_is_a_protocol_error() -> None:
    fake = FakeOpenCode()
    fake.on_json("GET", "/session/status", ["not", "a", "map"])
    async with fake.client() as client:
        with pytest.raises(OpenCodeProtocolError):
            await client.session_status()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_dead_server_is_reported_quickly() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    client = OpenCodeClient(url, timeouts=Timeouts(connect=1.0), retry=RetryPolicy(max_attempts=3))
    async with client:
        with anyio.fail_after(10):
            with pytest.raises(OpenCodeConnectionError) as caught:
                await client.health()
    message = str(caught.value)
    assert url in message
    assert "looks dead" in message
    assert caught.value.code == "opencode.connection"
