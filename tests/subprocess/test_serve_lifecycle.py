"""The real ``serve`` process: shutdown and exit codes, EOF and SIGTERM, logs."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import anyio
import orjson
import pytest

from opencode_orchestrator.jsonrpc import ErrorCode
from tests.jsonrpc.serve_process import SERVE, serve_process

pytestmark = [pytest.mark.anyio, pytest.mark.subprocess]

# The spec bounds the orderly shutdown after EOF or SIGTERM.
SHUTDOWN_BOUND = 2.0

_SERVER_WITH_HOOK = """
import sys
from pathlib import Path
from opencode_orchestrator import runtime
from opencode_orchestrator.core import serve_stdio
from opencode_orchestrator.log import configure_logging

marker = Path(sys.argv[1])

async def setup(server):
    async def release():
        marker.write_text("released")
    server.add_shutdown_hook(release)

configure_logging("info")
sys.exit(runtime.run(lambda: serve_stdio(setup=setup)))
"""


async def test_shutdown_then_exit_exits_zero() -> None:
    async with serve_process() as served:
        await served.initialize()
        assert (await served.peer.call(1, "shutdown"))["result"] is None
        assert (await served.peer.call(2, "echo"))["error"]["code"] == ErrorCode.INVALID_REQUEST
        await served.peer.notify("exit")
        assert await served.wait() == 0


async def test_exit_without_shutdown_exits_one() -> None:
    async with serve_process() as served:
        await served.initialize()
        await served.peer.notify("exit")
        assert await served.wait() == 1


async def test_requests_before_initialize_are_refused() -> None:
    async with serve_process() as served:
        reply = await served.peer.call(1, "echo")
        assert reply["error"]["code"] == ErrorCode.SERVER_NOT_INITIALIZED


async def test_end_of_input_shuts_down_in_order_within_the_bound(tmp_path: Path) -> None:
    marker = tmp_path / "hook"
    command = [sys.executable, "-c", _SERVER_WITH_HOOK, str(marker)]
    async with serve_process(command) as served:
        await served.initialize()
        await served.peer.request("slow", "diagnostics/sleep", {"seconds": 3600})
        await served.peer.call("sync", "echo")  # the sleep is running now
        await served.peer.send_eof()
        with anyio.fail_after(SHUTDOWN_BOUND):
            code = await served.process.wait()
        replies = await served.peer.receive_all_until_eof()
        await served.wait()
    assert code == 1  # input ended without shutdown
    assert [r["error"]["code"] for r in replies] == [ErrorCode.REQUEST_CANCELLED]
    assert marker.read_text() == "released"
    assert any(r["event"] == "end of input" for r in served.log_records())


async def test_sigterm_shuts_down_in_order_within_the_bound(tmp_path: Path) -> None:
    marker = tmp_path / "hook"
    command = [sys.executable, "-c", _SERVER_WITH_HOOK, str(marker)]
    async with serve_process(command) as served:
        await served.initialize()
        await served.peer.request("slow", "diagnostics/sleep", {"seconds": 3600})
        await served.peer.call("sync", "echo")
        served.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(SHUTDOWN_BOUND):
            code = await served.process.wait()
        replies = await served.peer.receive_all_until_eof()
        await served.wait()
    assert code == 0
    assert [r["error"]["code"] for r in replies] == [ErrorCode.REQUEST_CANCELLED]
    assert marker.read_text() == "released"
    events = {r["event"]: r for r in served.log_records()}
    assert events["signal received, shutting down"]["signal"] == "SIGTERM"


async def test_logs_are_json_on_stderr_with_the_password_redacted(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "serve.jsonl"
    async with serve_process(SERVE, "--log-level", "debug", "--log-file", str(log_file)) as served:
        await served.initialize(password="hunter2-secret", serverUrl="http://127.0.0.1:4096")
        await served.peer.call(1, "shutdown")
        await served.peer.notify("exit")
        assert await served.wait() == 0
    assert b"hunter2-secret" not in served.stderr
    records = served.log_records()  # every line parses as JSON
    [init] = [r for r in records if r["event"] == "initialize"]
    assert init["password"] == "[REDACTED]"
    assert init["level"] == "info"
    assert {"timestamp", "level", "event"} <= set(init)
    file_text = log_file.read_bytes()
    assert b"hunter2-secret" not in file_text
    assert [orjson.loads(line)["event"] for line in file_text.splitlines()] == [
        r["event"] for r in records
    ]
