"""The real ``serve`` process: protocol errors, concurrency, cancellation, stdout hygiene."""

from __future__ import annotations

import sys

import anyio
import pytest

from opencode_orchestrator.jsonrpc import ErrorCode
from tests.jsonrpc.serve_process import SERVE, serve_process

pytestmark = [pytest.mark.anyio, pytest.mark.subprocess]


async def test_bad_input_is_answered_and_serving_continues() -> None:
    async with serve_process(SERVE, "--max-line-bytes", "4096") as served:
        await served.initialize()
        peer = served.peer
        await peer.send_raw(b'{"jsonrpc": "2.0", "method": oops\n')
        assert (await peer.receive())["error"]["code"] == ErrorCode.PARSE_ERROR
        await peer.send_raw(b"\xff\xfe\x00garbage\n")
        assert (await peer.receive())["error"]["code"] == ErrorCode.PARSE_ERROR
        await peer.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"echo","params":["' + b"x" * 100_000)
        await peer.send_raw(b'"]}\n')
        oversized = await peer.receive()
        assert oversized["id"] is None
        assert oversized["error"]["code"] == ErrorCode.MESSAGE_TOO_LARGE
        assert (await peer.call(2, "no/such"))["error"]["code"] == ErrorCode.METHOD_NOT_FOUND
        await peer.send_raw(b"[]\n")
        assert (await peer.receive())["error"] == {"code": -32600, "message": "empty batch"}
        await peer.send({"jsonrpc": "2.0", "id": 1.5, "method": "echo"})
        assert (await peer.receive())["error"]["code"] == ErrorCode.INVALID_REQUEST
        assert (await peer.call(3, "echo", {"still": "serving"}))["result"] == {"still": "serving"}


async def test_invalid_params_message() -> None:
    async with serve_process() as served:
        await served.initialize()
        reply = await served.peer.call(1, "diagnostics/sleep", {"secs": 1})
        assert reply["error"]["code"] == ErrorCode.INVALID_PARAMS
        assert reply["error"]["message"] == "params.seconds: Field required"


async def test_batch_answers_in_one_array() -> None:
    async with serve_process() as served:
        await served.initialize()
        await served.peer.send(
            [
                {"jsonrpc": "2.0", "id": 1, "method": "echo", "params": [1]},
                {"jsonrpc": "2.0", "method": "initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "nope"},
            ]
        )
        reply = await served.peer.receive()
        assert sorted(item["id"] for item in reply) == [1, 2]


async def test_slow_request_does_not_block_and_can_be_cancelled() -> None:
    async with serve_process() as served:
        await served.initialize()
        peer = served.peer
        await peer.request("slow", "diagnostics/sleep", {"seconds": 3600})
        assert (await peer.call("fast", "echo", ["fast"]))["result"] == ["fast"]
        await peer.notify("$/cancelRequest", {"id": "slow"})
        reply = await peer.receive()
        assert reply == {
            "jsonrpc": "2.0",
            "id": "slow",
            "error": {"code": ErrorCode.REQUEST_CANCELLED, "message": "request cancelled"},
        }


_STRAY_OUTPUT_SERVER = """
import os, sys
from opencode_orchestrator import runtime
from opencode_orchestrator.core import serve_stdio

async def setup(server):
    print("stray print")
    os.write(1, b"stray write to fd 1\\n")

sys.exit(runtime.run(lambda: serve_stdio(setup=setup)))
"""


async def test_stray_output_never_reaches_the_wire() -> None:
    async with serve_process([sys.executable, "-c", _STRAY_OUTPUT_SERVER]) as served:
        await served.initialize()
        assert (await served.peer.call(1, "shutdown"))["result"] is None
        await served.peer.notify("exit")
        rest = await served.peer.receive_all_until_eof()
        assert rest == []
        assert await served.wait() == 0
    assert b"stray print" in served.stderr
    assert b"stray write to fd 1" in served.stderr


async def test_stdout_carries_only_protocol_messages() -> None:
    async with serve_process() as served:
        await served.initialize()
        for i in range(20):
            await served.peer.request(i, "echo", {"i": i})
        await served.peer.request(20, "shutdown")
        await served.peer.notify("exit")
        lines = await served.peer.receive_all_until_eof()
        assert await served.wait() == 0
    assert all(message.get("jsonrpc") == "2.0" for message in lines)
    assert sorted(message["id"] for message in lines) == list(range(21))


async def test_help_lists_the_options() -> None:
    result = await anyio.run_process([*SERVE, "--help"])
    text = result.stdout.decode()
    for option in ("--max-line-bytes", "--log-level", "--log-file", "--request-timeout"):
        assert option in text
    assert result.returncode == 0
