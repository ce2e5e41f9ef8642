"""Start a real ``serve`` process (or a script around ``serve_stdio``) for subprocess tests."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from anyio.abc import Process

from tests.jsonrpc.rawpeer import RawPeer

SERVE = [sys.executable, "-m", "opencode_orchestrator", "serve"]


@dataclass
class ServeProcess:
    process: Process
    peer: RawPeer
    stderr: bytearray = field(default_factory=bytearray)
    stderr_done: anyio.Event = field(default_factory=anyio.Event)

    async def initialize(self, **params: Any) -> Any:
        reply = await self.peer.call(
            "init", "initialize", {"clientInfo": {"name": "test"}, **params}
        )
        assert "result" in reply, reply
        await self.peer.notify("initialized")
        return reply["result"]

    async def wait(self, timeout: float = 10) -> int:
        with anyio.fail_after(timeout):
            code = await self.process.wait()
            await self.stderr_done.wait()
        return code

    def log_records(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in bytes(self.stderr).splitlines() if line.strip()]


@asynccontextmanager
async def serve_process(command: Sequence[str] = SERVE, *args: str) -> AsyncIterator[ServeProcess]:
    async with await anyio.open_process([*command, *args]) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        assert process.stderr is not None
        stderr_stream = process.stderr
        served = ServeProcess(process, RawPeer(process.stdout, process.stdin))

        async def drain_stderr() -> None:
            async for chunk in stderr_stream:
                served.stderr += chunk
            served.stderr_done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain_stderr)
            try:
                yield served
            finally:
                if process.returncode is None:
                    process.kill()
                with anyio.CancelScope(shield=True):
                    await process.wait()
