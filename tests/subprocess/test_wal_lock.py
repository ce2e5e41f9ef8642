"""Two processes on one log: the second gets WalLockedError naming the first's pid."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from opencode_orchestrator.wal import RecordRegistry, WalLockedError, WriteAheadLog

pytestmark = [pytest.mark.subprocess, pytest.mark.anyio]

WRITER = Path(__file__).with_name("wal_crash_writer.py")
REGISTRY = RecordRegistry(["crash.append"])


@asynccontextmanager
async def _holder(directory: Path) -> AsyncIterator[Process]:
    """Another process that has opened the log and holds it until its stdin closes."""
    async with await anyio.open_process(
        [sys.executable, str(WRITER), "hold", str(directory)]
    ) as holder:
        assert holder.stdout is not None
        with anyio.fail_after(60):
            assert (await holder.stdout.receive()).strip() == b"ready"
        yield holder


async def test_second_process_is_refused_while_the_first_holds_the_log(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    async with _holder(directory) as holder:
        with pytest.raises(WalLockedError) as info:
            await WriteAheadLog.open(directory, registry=REGISTRY)
        assert info.value.holder_pid == holder.pid
        assert f"pid {holder.pid}" in str(info.value)
        assert holder.stdin is not None
        await holder.stdin.aclose()
        with anyio.fail_after(60):
            assert await holder.wait() == 0
    # Released on exit: we can open it now.
    async with await WriteAheadLog.open(directory, registry=REGISTRY):
        pass


async def test_lock_of_a_killed_holder_is_released_by_the_kernel(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    async with _holder(directory) as holder:
        holder.kill()
        with anyio.fail_after(60):
            await holder.wait()
    async with await WriteAheadLog.open(directory, registry=REGISTRY):
        pass


async def test_cli_repair_in_another_process_is_refused_while_locked(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    async with await WriteAheadLog.open(directory, registry=REGISTRY):
        result = await anyio.run_process(
            [sys.executable, "-m", "opencode_orchestrator", "wal", "repair", str(directory)],
            check=False,
            stderr=subprocess.PIPE,
        )
    assert result.returncode == 1
    assert b"wal.locked" in result.stderr
