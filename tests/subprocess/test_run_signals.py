"""Signals to ``run``: Ctrl-C cancels the mission; SIGTERM and SIGHUP leave it resumable.

A real ``run`` process over a ``sim-server`` process whose turns take half a
second, signalled once a turn is under way (its live view, plain lines on a
pipe, says ``in flight``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import read_journal
from opencode_orchestrator.wal.paths import mission_wal_dir
from tests.subprocess.test_mission_crash import sim_server

pytestmark = [pytest.mark.anyio, pytest.mark.subprocess]

SIM_CONFIG: dict[str, Any] = {
    "latency": {"mean": 0.5, "jitter": 0.0},
    "planner": {"units": 4, "shape": "chain"},
}


async def _cli(*args: str) -> Process:
    command = [sys.executable, "-m", "opencode_orchestrator", *args]
    return await anyio.open_process(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def _read_all(stream: anyio.abc.ByteReceiveStream | None) -> str:
    assert stream is not None
    data = bytearray()
    try:
        while True:
            data += await stream.receive()
    except (anyio.EndOfStream, anyio.ClosedResourceError):
        pass
    return data.decode()


async def _signal_once_a_turn_runs(process: Process, signum: signal.Signals) -> tuple[int, str]:
    """Signal ``process`` once its live view shows a turn under way; its code and stdout."""
    assert process.stderr is not None
    stderr = BufferedByteReceiveStream(process.stderr)
    while True:
        line = (await stderr.receive_until(b"\n", 1 << 16)).decode()
        if "running" in line and "in flight 1" in line:
            break
    process.send_signal(signum)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_read_all, stderr)  # drained, so the process never blocks on it
        out = await _read_all(process.stdout)
        code = await process.wait()
    return code, out


async def _signalled_run(project: Path, url: str, signum: signal.Signals) -> tuple[int, str, str]:
    """``run`` in a new ``project``, signalled once a turn runs: its code, stdout, mission id."""
    project.mkdir()
    run = await _cli("run", "signalled", "--server", url, "--project", str(project))
    async with run:
        code, out = await _signal_once_a_turn_runs(run, signum)
    return code, out, out.splitlines()[0].removeprefix("mission ")


async def _state(project: Path, mission_id: str) -> MissionState:
    model = await anyio.to_thread.run_sync(read_journal, mission_wal_dir(project, mission_id))
    return model.state


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
async def test_sigterm_or_sighup_stops_run_and_the_mission_resumes_to_its_seal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    project = tmp_path / "project"
    async with sim_server(tmp_path, SIM_CONFIG, seed=3) as url:
        with anyio.fail_after(60):
            code, out, mission_id = await _signalled_run(project, url, signum)
            assert code == 130, out
            assert "stopped while running; resume it with" in out
            state = await _state(project, mission_id)
            assert not state.final, state

            resume = await _cli("resume", mission_id, "--server", url, "--project", str(project))
            async with resume:
                out, _ = await _both(resume)
                assert await resume.wait() == 0, out
    assert "SEALED" in out
    assert "4 of 4 verified" in out


async def test_ctrl_c_cancels_the_mission(tmp_path: Path) -> None:
    project = tmp_path / "project"
    async with sim_server(tmp_path, SIM_CONFIG, seed=3) as url:
        with anyio.fail_after(60):
            code, out, mission_id = await _signalled_run(project, url, signal.SIGINT)
    assert code == 1, out
    assert "CANCELLED: cancelled on request" in out
    assert await _state(project, mission_id) is MissionState.CANCELLED


async def _both(process: Process) -> tuple[str, str]:
    outs: dict[str, str] = {}

    async def read(name: str, stream: anyio.abc.ByteReceiveStream | None) -> None:
        outs[name] = await _read_all(stream)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read, "out", process.stdout)
        tg.start_soon(read, "err", process.stderr)
    return outs["out"], outs["err"]
