"""Missions over the real ``serve`` process's stdio, against a simulator process.

The core is SIGKILLed mid-mission; a new core, on ``initialized``, resumes
the mission on its own, and it seals with nothing prompted twice (the crash
campaign's audit). A SIGTERM, by contrast, stops a mission the orderly way:
resumable, not cancelled, its WAL closed and unlocked.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import anyio
import pytest

from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import load_mission
from opencode_orchestrator.wal.paths import mission_wal_dir
from tests.jsonrpc.serve_process import ServeProcess, serve_process
from tests.subprocess.test_mission_crash import (
    audit_mission,
    format_report,
    read_sim,
    read_wal,
    sim_server,
)

pytestmark = [pytest.mark.anyio, pytest.mark.subprocess]

Json = dict[str, Any]
BOUND = 120.0
"""Generous: reaching it means a hang, never a slow machine."""
UNITS = 4
SIM_CONFIG: Json = {
    "retry_delay": 0.001,
    # A chain of units with some think time: a mission is still running when
    # the plan is accepted, which is where the core is killed.
    "latency": {"mean": 0.1, "jitter": 0.05},
    "planner": {"units": UNITS, "shape": "chain"},
}


class Shim:
    """The shim's side of a serve process: calls, and the notifications seen meanwhile."""

    def __init__(self, served: ServeProcess) -> None:
        self.served = served
        self.notes: list[Json] = []
        self._next = 0

    async def _receive(self) -> Json:
        message: Json = await self.served.peer.receive(timeout=BOUND)
        if "id" not in message:
            self.notes.append(message)
        return message

    async def call(self, method: str, params: Json | None = None) -> Any:
        self._next += 1
        request_id = self._next
        await self.served.peer.request(request_id, method, params or {})
        while True:
            message = await self._receive()
            if message.get("id") == request_id:
                assert "result" in message, message
                return message["result"]

    async def initialize(self, url: str, project: Path) -> None:
        params = {"clientInfo": {"name": "test"}, "serverUrl": url, "directory": str(project)}
        await self.call("initialize", params)
        await self.served.peer.notify("initialized")

    def progress(self, mission_id: str) -> list[Json]:
        return [
            n["params"]
            for n in self.notes
            if n.get("method") == "mission/progress" and n["params"]["missionId"] == mission_id
        ]

    async def wait_state(self, mission_id: str, state: str) -> None:
        with anyio.fail_after(BOUND):
            while state not in [p["state"] for p in self.progress(mission_id)]:
                await self._receive()


async def test_a_sigkilled_core_is_replaced_and_the_new_one_resumes_the_mission(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    async with sim_server(tmp_path, SIM_CONFIG, seed=7) as url:
        async with serve_process() as first:
            shim = Shim(first)
            await shim.initialize(url, project)
            mid = (await shim.call("mission/start", {"goal": "build the thing"}))["missionId"]
            await shim.wait_state(mid, "RUNNING")
            first.process.send_signal(signal.SIGKILL)
            assert await first.wait(BOUND) == -signal.SIGKILL
        at_kill = load_mission(project, mid)
        assert not at_kill.state.final, "the mission must still be running when killed"

        async with serve_process() as second:
            shim = Shim(second)
            await shim.initialize(url, project)  # autoResume defaults to true
            await shim.wait_state(mid, "SEALED")
            resumed = shim.progress(mid)[0]
            assert resumed["text"].startswith(f"Mission {mid} resumed")
            [entry] = (await shim.call("mission/status", {"missionId": mid}))["missions"]
            assert entry["state"] == "SEALED"
            assert entry["units"] == {"VERIFIED": UNITS}
            assert await shim.call("shutdown") is None
            await second.peer.notify("exit")
            assert await second.wait(BOUND) == 0
    records = await read_wal(project, mid)
    audit = audit_mission(records, read_sim(tmp_path / "sim-state"), UNITS)
    assert not audit.violations + audit.outcome, format_report(audit.violations, audit.outcome)


async def test_sigterm_stops_a_mission_resumably_and_releases_its_wal(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    hang = SIM_CONFIG | {"faults": {"hang_rate": 1.0}}  # the planner never answers
    async with sim_server(tmp_path, hang, seed=7) as url, serve_process() as core:
        shim = Shim(core)
        await shim.initialize(url, project)
        mid = (await shim.call("mission/start", {"goal": "build the thing"}))["missionId"]
        core.process.send_signal(signal.SIGTERM)
        assert await core.wait(BOUND) == 0
        stopped = [r for r in core.log_records() if r["event"] == "mission.stopped.resumable"]
        assert [r["mission"] for r in stopped] == [mid]
    model = load_mission(project, mid)
    assert model.state is MissionState.PLANNING
    assert not model.cancel_requested
    journal = await Journal.open(mission_wal_dir(project, mid))  # the lock was released
    await journal.close()
