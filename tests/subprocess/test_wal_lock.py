"""Two processes on one log: the second gets WalLockedError naming the first's pid."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from opencode_orchestrator.wal import RecordRegistry, WalLockedError, WriteAheadLog, mission_wal_dir
from opencode_orchestrator.wal.lock import lock_holder, lock_holders
from tests.core.missions.harness import core_session
from tests.mission.enginesupport import GOAL, simulated

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
        assert lock_holder(directory) == holder.pid
        holder.kill()
        with anyio.fail_after(60):
            await holder.wait()
    # The LOCK file still names the dead holder; the kernel says nobody holds it.
    assert (directory / "LOCK").read_text().strip() == str(holder.pid)
    assert lock_holder(directory) is None
    async with await WriteAheadLog.open(directory, registry=REGISTRY):
        pass


async def test_lock_holder_names_the_holder_without_taking_the_lock(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    assert lock_holder(directory) is None  # no log at all
    async with _holder(directory) as holder:
        assert lock_holder(directory) == holder.pid
        free = tmp_path / "free"
        async with await WriteAheadLog.open(free, registry=REGISTRY):
            pass  # a LOCK file nobody holds now
        # Many logs at once, one read of the lock table: only the held ones answer.
        assert lock_holders([free, directory, tmp_path / "none"]) == {directory: holder.pid}
        with pytest.raises(WalLockedError):  # asking took nothing from the holder
            await WriteAheadLog.open(directory, registry=REGISTRY)
        assert holder.stdin is not None
        await holder.stdin.aclose()
        with anyio.fail_after(60):
            assert await holder.wait() == 0
    assert lock_holder(directory) is None
    async with await WriteAheadLog.open(directory, registry=REGISTRY):
        assert lock_holder(directory) == os.getpid()


async def test_run_warns_of_a_mission_another_process_runs_in_the_project(
    tmp_path: Path,
) -> None:
    # Missions of two processes do not share file scopes: the user is told.
    project = tmp_path / "project"
    project.mkdir()
    command = [sys.executable, "-m", "opencode_orchestrator", "run", "one small thing"]
    command += ["--sim", "--sim-units", "1", "--project", str(project)]
    async with _holder(mission_wal_dir(project, "m-other")) as holder:
        with anyio.fail_after(120):
            result = await anyio.run_process(command, check=False, stderr=subprocess.PIPE)
    assert result.returncode == 0, result.stderr.decode()
    warning = f"warning: mission m-other is running in {project} (pid {holder.pid})"
    assert warning in result.stderr.decode()
    with anyio.fail_after(120):  # nobody holds it now: no warning
        result = await anyio.run_process(command, check=False, stderr=subprocess.PIPE)
    assert result.returncode == 0, result.stderr.decode()
    assert b"warning: mission" not in result.stderr


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


async def test_the_core_warns_of_a_mission_another_process_runs_in_the_project(
    tmp_path: Path,
) -> None:
    async with simulated(tmp_path) as sim, core_session(sim) as shim:
        async with _holder(mission_wal_dir(sim.project, "m-other")) as holder:
            started = await shim.call("mission/start", {"goal": GOAL})
        assert started["message"].startswith(f"Mission {started['missionId']} started: {GOAL}")
        assert (
            f"mission m-other is running in this project in another process (pid {holder.pid})"
            in (started["message"])
        )
        # The core's own missions share scopes: a second one here is not warned of.
        again = await shim.call("mission/start", {"goal": GOAL})
        assert again["message"] == f"Mission {again['missionId']} started: {GOAL}"
        for mid in (started["missionId"], again["missionId"]):
            await shim.wait_state(mid, "SEALED")
