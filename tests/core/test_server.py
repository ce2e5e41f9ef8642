"""The core server over in-memory streams, driven by a raw peer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import pytest
from structlog.testing import capture_logs

from opencode_orchestrator import __version__
from opencode_orchestrator.core import PROTOCOL_VERSION, CoreServer, ServerOptions
from opencode_orchestrator.jsonrpc import Endpoint, ErrorCode, memory_stream_pair
from tests.jsonrpc.rawpeer import RawPeer

pytestmark = pytest.mark.anyio


@dataclass
class Running:
    server: CoreServer
    peer: RawPeer
    exit_code: int | None = None
    finished: anyio.Event = field(default_factory=anyio.Event)

    async def wait_exit_code(self) -> int | None:
        with anyio.fail_after(5):
            await self.finished.wait()
        return self.exit_code


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    server_side, peer_side = memory_stream_pair()
    server = CoreServer(Endpoint(server_side), ServerOptions(hooks_timeout=5))
    state = Running(server, RawPeer(peer_side, peer_side))

    async def run() -> None:
        state.exit_code = await server.run()
        state.finished.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        yield state
        server.stop(99)  # no-op when the test already ended the session
    await peer_side.aclose()


async def _initialize(peer: RawPeer) -> dict[str, object]:
    reply = await peer.call(
        0,
        "initialize",
        {
            "protocolVersion": "1",
            "clientInfo": {"name": "shim", "version": "0.0.1"},
            "serverUrl": "http://127.0.0.1:4096",
            "directory": "/project",
            "worktree": "/project",
            "password": "hunter2",
        },
    )
    await peer.notify("initialized")
    return reply  # type: ignore[no-any-return]


async def test_initialize_returns_server_info_and_keeps_the_session(running: Running) -> None:
    reply = await _initialize(running.peer)
    assert reply["result"] == {
        "protocolVersion": PROTOCOL_VERSION,
        "serverInfo": {"name": "opencode-orchestrator", "version": __version__},
        "capabilities": {
            "cancelRequest": True,
            "batches": True,
            "methods": [
                "initialize",
                "initialized",
                "shutdown",
                "exit",
                "echo",
                "diagnostics/sleep",
                "mission/start",
                "mission/status",
                "mission/cancel",
                "mission/resume",
                "scope/check",
                "agents/list",
            ],
        },
    }
    session = running.server.session
    assert session is not None
    assert session.server_url == "http://127.0.0.1:4096"
    assert session.password is not None
    assert session.password.get_secret_value() == "hunter2"


async def test_password_never_reaches_the_log_event(running: Running) -> None:
    with capture_logs() as logs:
        await _initialize(running.peer)
    [entry] = [e for e in logs if e["event"] == "initialize"]
    assert "hunter2" not in repr(entry)
    assert entry["client"] == "shim"


async def test_requests_before_initialize_are_refused(running: Running) -> None:
    reply = await running.peer.call(1, "echo", [1])
    assert reply["error"]["code"] == ErrorCode.SERVER_NOT_INITIALIZED
    reply = await running.peer.call(2, "no/such/method")
    assert reply["error"]["code"] == ErrorCode.SERVER_NOT_INITIALIZED
    await _initialize(running.peer)
    assert (await running.peer.call(3, "echo", {"x": 1}))["result"] == {"x": 1}


async def test_second_initialize_is_invalid(running: Running) -> None:
    await _initialize(running.peer)
    reply = await running.peer.call(1, "initialize", {})
    assert reply["error"]["code"] == ErrorCode.INVALID_REQUEST


async def test_shutdown_then_exit_ends_with_code_zero_and_runs_hooks(running: Running) -> None:
    ran: list[str] = []

    async def hook() -> None:
        ran.append("hook")

    running.server.add_shutdown_hook(hook)
    await _initialize(running.peer)
    assert (await running.peer.call(1, "shutdown"))["result"] is None
    after = await running.peer.call(2, "echo", [2])
    assert after["error"]["code"] == ErrorCode.INVALID_REQUEST
    await running.peer.notify("exit")
    assert await running.peer.receive_all_until_eof() == []
    assert await running.wait_exit_code() == 0
    assert ran == ["hook"]


async def test_exit_without_shutdown_ends_with_code_one(running: Running) -> None:
    await _initialize(running.peer)
    await running.peer.notify("exit")
    await running.peer.receive_all_until_eof()
    assert await running.wait_exit_code() == 1


async def test_end_of_input_cancels_work_and_runs_hooks_in_reverse_order(running: Running) -> None:
    order: list[str] = []

    async def first() -> None:
        order.append("first")

    async def second() -> None:
        order.append("second")

    running.server.add_shutdown_hook(first)
    running.server.exit_stack.push_async_callback(second)
    await _initialize(running.peer)
    await running.peer.request(5, "diagnostics/sleep", {"seconds": 3600})
    await running.peer.send_eof()
    replies = await running.peer.receive_all_until_eof()
    assert replies == [
        {"jsonrpc": "2.0", "id": 5, "error": {"code": -32800, "message": "request cancelled"}}
    ]
    assert await running.wait_exit_code() == 1  # input ended without shutdown
    assert order == ["second", "first"]


async def test_sleep_is_cancellable_and_validates(running: Running) -> None:
    await _initialize(running.peer)
    await running.peer.request("s", "diagnostics/sleep", {"seconds": 3600})
    await running.peer.notify("$/cancelRequest", {"id": "s"})
    reply = await running.peer.receive()
    assert reply["error"]["code"] == ErrorCode.REQUEST_CANCELLED
    bad = await running.peer.call("b", "diagnostics/sleep", {"seconds": -1})
    assert bad["error"]["message"] == "params.seconds: Input should be greater than or equal to 0"


async def test_a_failing_hook_does_not_stop_the_others(running: Running) -> None:
    ran: list[str] = []

    async def good() -> None:
        ran.append("good")

    async def bad() -> None:
        raise RuntimeError("hook broke")

    running.server.add_shutdown_hook(good)
    running.server.add_shutdown_hook(bad)
    await _initialize(running.peer)
    await running.peer.call(1, "shutdown")
    await running.peer.notify("exit")
    await running.peer.receive_all_until_eof()
    assert await running.wait_exit_code() == 1
    assert ran == ["good"]
