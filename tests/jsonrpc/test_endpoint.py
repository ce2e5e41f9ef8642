"""Two endpoints talking to each other: typed calls, both directions, timeouts, closing."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from opencode_orchestrator.jsonrpc import (
    ConnectionClosedError,
    DispatcherState,
    Endpoint,
    EndpointStateError,
    ErrorCode,
    InvalidResultError,
    RemoteError,
    RequestTimeoutError,
    RpcError,
    memory_stream_pair,
)
from tests.jsonrpc.conftest import GoalParams

pytestmark = pytest.mark.anyio


class Sum(BaseModel):
    total: int


@asynccontextmanager
async def connected(**client_options: object) -> AsyncIterator[tuple[Endpoint, Endpoint]]:
    a, b = memory_stream_pair()
    server, client = Endpoint(a), Endpoint(b, **client_options)  # type: ignore[arg-type]
    yield server, client
    await a.aclose()
    await b.aclose()


async def test_typed_call_validates_result() -> None:
    async with connected() as (server, client):

        @server.method("add", GoalParams)
        async def add(params: GoalParams) -> Sum:
            return Sum(total=params.workers + 1)

        async with server, client:
            result = await client.call("add", GoalParams(goal="g", workers=2), result_type=Sum)
            assert result == Sum(total=3)
            assert await client.call("add", {"goal": "g"}) == {"total": 2}
            with pytest.raises(InvalidResultError):
                await client.call("add", {"goal": "g"}, result_type=str)


async def test_remote_error_carries_code_message_and_data() -> None:
    async with connected() as (server, client):

        @server.method("refuse")
        async def refuse(params: object) -> None:
            raise RpcError(-33010, "no such mission", {"mission": "x"})

        async with server, client:
            with pytest.raises(RemoteError) as caught:
                await client.call("refuse")
            assert (caught.value.code, caught.value.message) == (-33010, "no such mission")
            assert caught.value.data == {"mission": "x"}
            with pytest.raises(RemoteError) as missing:
                await client.call("absent")
            assert missing.value.code == ErrorCode.METHOD_NOT_FOUND


async def test_server_calls_the_client_while_handling_a_request() -> None:
    async with connected() as (server, client):

        @client.method("confirm")
        async def confirm(params: object) -> bool:
            return params == {"question": "proceed?"}

        @server.method("plan")
        async def plan(params: object) -> str:
            ok = await server.call("confirm", {"question": "proceed?"}, result_type=bool)
            await server.notify("progress", {"done": True})
            return "approved" if ok else "refused"

        progress: list[object] = []

        @client.notification("progress")
        async def on_progress(params: object) -> None:
            progress.append(params)

        async with server, client:
            assert await client.call("plan") == "approved"
            await client.call("plan")  # the notification precedes this reply on the wire
            assert progress[0] == {"done": True}


async def test_outgoing_call_times_out_and_tells_the_peer_to_cancel() -> None:
    async with connected(request_timeout=0.05) as (server, client):
        cancelled = anyio.Event()
        started = anyio.Event()

        @server.method("hang")
        async def hang(params: object) -> None:
            started.set()
            try:
                await anyio.sleep_forever()
            finally:
                cancelled.set()

        async with server, client:
            with pytest.raises(RequestTimeoutError) as caught:
                await client.call("hang")
            assert caught.value.method == "hang"
            with anyio.fail_after(5):
                await cancelled.wait()  # $/cancelRequest reached the server
            assert started.is_set()
            # A per-call timeout overrides the default.
            with pytest.raises(RequestTimeoutError):
                await client.call("hang", timeout=0.01)


async def test_caller_cancellation_also_cancels_the_remote_request() -> None:
    async with connected() as (server, client):
        started, cancelled = anyio.Event(), anyio.Event()

        @server.method("hang")
        async def hang(params: object) -> None:
            started.set()
            try:
                await anyio.sleep_forever()
            finally:
                cancelled.set()

        @server.method("ping")
        async def ping(params: object) -> str:
            return "pong"

        async with server, client:
            with anyio.CancelScope() as call_scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(lambda: client.call("hang", timeout=math.inf))
                    with anyio.fail_after(5):
                        await started.wait()
                    call_scope.cancel()
            # Both endpoints are still open: only $/cancelRequest can reach the handler.
            with anyio.fail_after(5):
                await cancelled.wait()
            assert await client.call("ping", timeout=5) == "pong"


async def test_pending_calls_fail_when_the_peer_goes_away() -> None:
    a, b = memory_stream_pair()
    client = Endpoint(b)
    async with client:
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                with pytest.raises(ConnectionClosedError):
                    await client.call("anything", timeout=math.inf)

            tg.start_soon(call)
            await a.receive()  # the request reached the (silent) peer
            await a.aclose()
        with anyio.fail_after(5):
            await client.wait_closed()
        with pytest.raises(ConnectionClosedError):
            await client.call("late")
        with pytest.raises(ConnectionClosedError):
            await client.notify("late")
    await b.aclose()


async def test_a_closed_endpoint_cannot_reopen() -> None:
    async with connected() as (server, _client):
        async with server:
            assert server.state is DispatcherState.RUNNING
        assert server.state.value == "closed"
        with pytest.raises(EndpointStateError):
            await server.serve_forever()
        with pytest.raises(EndpointStateError):
            async with server.run():
                pass  # pragma: no cover


async def test_closing_an_endpoint_that_never_ran() -> None:
    async with connected() as (server, _client):
        server.close()
        await server.wait_closed()
        assert server.state is DispatcherState.CLOSED
        with pytest.raises(EndpointStateError):
            await server.serve_forever()


async def test_close_from_a_handler_flushes_its_earlier_replies() -> None:
    async with connected() as (server, client):

        @server.notification("bye")
        async def bye(params: object) -> None:
            server.close()

        @server.method("echo")
        async def echo(params: object) -> object:
            return params

        async with client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve_forever)
                assert await client.call("echo", [1]) == [1]
                await client.notify("bye")
            assert server.state is DispatcherState.CLOSED
            await client.wait_closed()  # the server closed its output: the client saw EOF


def test_endpoint_needs_a_send_stream_for_receive_only_streams() -> None:
    a, b = anyio.create_memory_object_stream[bytes](1)
    with pytest.raises(TypeError):
        Endpoint(b)  # type: ignore[arg-type]
    a.close()
    b.close()


async def test_notification_with_invalid_params_is_logged_and_skipped() -> None:
    async with connected() as (server, client):
        received: list[GoalParams] = []
        done = anyio.Event()

        @server.notification("goal/set", GoalParams)
        async def set_goal(params: GoalParams) -> None:
            received.append(params)
            done.set()

        async with server, client:
            with capture_logs() as logs:
                await client.notify("goal/set", {"workers": 2})
                await client.notify("goal/set", {"goal": "ship"})
                with anyio.fail_after(5):
                    await done.wait()
        assert received == [GoalParams(goal="ship")]
        [refused] = [e for e in logs if e["event"] == "notification refused"]
        assert refused["code"] == ErrorCode.INVALID_PARAMS
        assert refused["reason"] == "params.goal: Field required"
