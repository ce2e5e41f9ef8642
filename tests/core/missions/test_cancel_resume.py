"""mission/cancel and mission/resume, and missions outliving the core that ran them.

Turns that must not end on their own hang in the simulator (``hang_rate``),
so a mission stays where the test wants it without any timing; a restart of
the simulator ends the hung turns, as a restart of OpenCode does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from opencode_orchestrator.core import CoreServer
from opencode_orchestrator.core.errors import CoreErrorCode
from opencode_orchestrator.mission.cancelling import cancel_request_path
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.mission.store import mission_dir
from opencode_orchestrator.sim import FaultConfig
from opencode_orchestrator.testing.mission_e2e import wal_records
from opencode_orchestrator.wal.paths import mission_wal_dir
from tests.core.missions.harness import BOUND, core_session, disk_model
from tests.mission import journals
from tests.mission.enginesupport import GOAL, Sim, Tap, sim_config, simulated

pytestmark = pytest.mark.anyio

HANG = sim_config(faults={"hang_rate": 1.0})


async def _stopped_mission(sim: Sim) -> str:
    """A mission left PLANNING by a core that shut down (resumable, not cancelled)."""
    async with core_session(sim) as shim:
        mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
        assert await shim.shutdown() == 0
    assert shim.server.missions.running(mid) is None
    return str(mid)


async def test_cancel_stops_the_running_mission_the_orderly_way(tmp_path: Path) -> None:
    async with simulated(tmp_path, HANG) as sim, core_session(sim) as shim:
        mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
        result = await shim.call("mission/cancel")  # the one running mission
        assert result == {
            "missionId": mid,
            "state": "CANCELLED",
            "message": f"Mission {mid} cancelled.",
        }
        note = await shim.wait_state(mid, "CANCELLED")
        assert note["level"] == "warning"
        model = disk_model(sim.project, mid)
        assert model.state is MissionState.CANCELLED
        assert model.cancel_requested
        assert not model.turns  # the hung planner turn was aborted and ended
        [entry] = (await shim.call("mission/status", {"missionId": mid}))["missions"]
        assert entry["running"] is False
        assert entry["state"] == "CANCELLED"


async def test_cancel_without_an_id_needs_exactly_one_running_mission(tmp_path: Path) -> None:
    async with simulated(tmp_path, HANG) as sim, core_session(sim) as shim:
        none = await shim.refused("mission/cancel")
        assert none.code == CoreErrorCode.MISSION_NOT_RUNNING
        first = (await shim.call("mission/start", {"goal": "one"}))["missionId"]
        second = (await shim.call("mission/start", {"goal": "two"}))["missionId"]
        ambiguous = await shim.refused("mission/cancel")
        assert ambiguous.code == CoreErrorCode.AMBIGUOUS_MISSION
        assert set(ambiguous.data["missionIds"]) == {first, second}
        assert first in ambiguous.message
        assert second in ambiguous.message
        for mid in (first, second):
            assert (await shim.call("mission/cancel", {"missionId": mid}))["state"] == "CANCELLED"
        ended = await shim.refused("mission/cancel", {"missionId": first})
        assert ended.code == CoreErrorCode.MISSION_NOT_RUNNING
        assert "CANCELLED" in ended.message


async def test_shutdown_leaves_missions_resumable_and_a_new_core_resumes_them(
    tmp_path: Path,
) -> None:
    async with simulated(tmp_path, HANG) as sim:
        mid = await _stopped_mission(sim)
        model = disk_model(sim.project, mid)
        assert model.state is MissionState.PLANNING  # stopped where it stood, not CANCELLED
        assert not model.cancel_requested
        sim.server.set_faults(FaultConfig())
        await sim.server.restart()  # the hung planner turn dies with the server

        async with core_session(sim, autoResume=False) as shim:
            [entry] = (await shim.call("mission/status"))["missions"]
            assert entry["missionId"] == mid
            assert entry["running"] is False
            assert entry["state"] == "PLANNING"

            resumed = await shim.call("mission/resume")  # the newest unfinished one
            assert resumed == {
                "missionId": mid,
                "state": "PLANNING",
                "message": f"Mission {mid} resumed (PLANNING).",
            }
            again = await shim.call("mission/resume", {"missionId": mid})
            assert again["message"].startswith(f"Mission {mid} is already running here")
            await shim.wait_state(mid, "SEALED")
            assert shim.progress[0]["text"].startswith(f"Mission {mid} resumed")
        assert disk_model(sim.project, mid).state is MissionState.SEALED


async def test_the_end_of_input_stops_missions_resumably_too(tmp_path: Path) -> None:
    async with simulated(tmp_path, HANG) as sim:
        async with core_session(sim) as shim:
            mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
            assert await shim.end_input() == 1  # no shutdown came first
        model = disk_model(sim.project, mid)
        assert model.state is MissionState.PLANNING
        assert not model.cancel_requested
        journal = await Journal.open(mission_wal_dir(sim.project, mid))  # closed and unlocked
        await journal.close()


async def test_initialized_resumes_unfinished_missions_on_its_own(tmp_path: Path) -> None:
    async with simulated(tmp_path, HANG) as sim:
        mid = await _stopped_mission(sim)
        sim.server.set_faults(FaultConfig())
        await sim.server.restart()
        async with core_session(sim) as shim:
            await shim.wait_state(mid, "SEALED")
            assert shim.states(mid)[0] == "PLANNING"  # "resumed"


async def test_resume_refuses_ended_and_locked_missions(tmp_path: Path) -> None:
    async with simulated(tmp_path, HANG) as sim:
        stopped = await _stopped_mission(sim)
        # Another holder of the WAL (here: this process) is running it.
        journal = await Journal.open(mission_wal_dir(sim.project, stopped))
        try:
            async with core_session(sim, autoResume=False) as shim:
                locked = await shim.refused("mission/resume", {"missionId": stopped})
                assert locked.code == CoreErrorCode.MISSION_LOCKED
                assert locked.data["missionId"] == stopped
                # Cancelling it leaves a request for that holder to see.
                cancel = await shim.call("mission/cancel", {"missionId": stopped})
                assert cancel["message"].startswith("Cancel requested")
                assert cancel_request_path(sim.project, stopped).exists()
        finally:
            await journal.close()

        async with core_session(sim, autoResume=False) as shim:
            # Nobody runs it now: the cancel is recorded in its own journal.
            cancel = await shim.call("mission/cancel", {"missionId": stopped})
            assert cancel["state"] == "CANCELLED"
            assert "was not running" in cancel["message"]
            assert (mission_dir(sim.project, stopped) / "report.html").is_file()
            ended = await shim.refused("mission/resume", {"missionId": stopped})
            assert ended.code == CoreErrorCode.MISSION_ENDED
            assert ended.data == {"missionId": stopped, "state": "CANCELLED"}
    model = disk_model(sim.project, stopped)
    assert model.state is MissionState.CANCELLED


async def test_a_cancel_of_a_mission_nobody_runs_ends_its_unfinished_units(
    tmp_path: Path,
) -> None:
    async with simulated(tmp_path, HANG) as sim:
        # u1 verified, u2's work turn open: as a core killed mid-run leaves it.
        await journals.unfinished_mission(sim.project, "m-cut")
        async with core_session(sim, autoResume=False) as shim:
            cancel = await shim.call("mission/cancel", {"missionId": "m-cut"})
            assert cancel["state"] == "CANCELLED"
    model = disk_model(sim.project, "m-cut")
    assert model.state is MissionState.CANCELLED
    states = {u.id: (u.state, u.reason) for u in model.units.values()}
    assert states["u1"][0] is UnitState.VERIFIED
    assert states["u2"] == (UnitState.CANCELLED, "the mission was cancelled")
    assert model.open_turns() == []


async def test_resume_needs_an_opencode_server(tmp_path: Path) -> None:
    async with simulated(tmp_path, HANG) as sim:
        stopped = await _stopped_mission(sim)
        async with core_session(sim, serverUrl=None) as shim:
            error = await shim.refused("mission/resume", {"missionId": stopped})
            assert error.code == CoreErrorCode.NO_OPENCODE_SERVER
            # Still findable, not running, and no reservation was left behind.
            [entry] = (await shim.call("mission/status"))["missions"]
            assert entry["running"] is False
            assert shim.server.missions.running(stopped) is None


async def test_an_error_that_stops_a_mission_is_told_and_kept_for_status(tmp_path: Path) -> None:
    tap = Tap()
    first_turn_ended = anyio.Event()

    def on_record(record_type: str, _data: object) -> None:
        if record_type == RecordType.TURN_ENDED:
            first_turn_ended.set()

    tap.on(on_record)

    def observe(server: CoreServer) -> None:
        server.missions.on_engine = tap.attach

    patient = {"timeouts": {"server_patience": 1.0}}
    async with simulated(tmp_path) as sim, core_session(sim, on_server=observe) as shim:
        mid = (await shim.call("mission/start", {"goal": GOAL, "config": patient}))["missionId"]
        mission = shim.server.missions.running(mid)
        assert mission is not None
        with anyio.fail_after(BOUND):
            await first_turn_ended.wait()
            await sim.server.stop()  # OpenCode is gone for longer than the mission's patience
            await mission.done.wait()
        assert mission.error is not None
        await shim.wait_for(lambda: any(p["level"] == "error" for p in shim.progress))
        [note] = [p for p in shim.progress if p["level"] == "error"]
        assert note["missionId"] == mid
        assert note["text"].startswith(f"Mission {mid} stopped, resumable: ")
        [entry] = (await shim.call("mission/status", {"missionId": mid}))["missions"]
        assert entry["running"] is False
        assert entry["endedAt"] is None  # unfinished: resumable
        assert entry["error"] == mission.error
        assert "stopped by an error" in (await shim.call("mission/status"))["text"]


async def test_a_cancel_asked_while_the_end_is_journaled_leaves_the_end_the_last_record(
    tmp_path: Path,
) -> None:
    asked: list[str] = []

    def cancel_at_the_end(engine: MissionEngine) -> None:
        journal = engine.ctx.journal
        write = journal.write

        async def cancelling(
            record_type: RecordType, data: dict[str, Any], *, durable: bool = True
        ) -> None:
            if record_type is RecordType.MISSION_STATE and MissionState(data["state"]).final:
                asked.append(data["state"])
                engine.request_cancel()
                await anyio.wait_all_tasks_blocked()  # the cancel watcher acts now, if it would
            await write(record_type, data, durable=durable)

        setattr(journal, "write", cancelling)  # noqa: B010 - as the core's own hook does

    def observe(server: CoreServer) -> None:
        server.missions.on_engine = cancel_at_the_end

    async with simulated(tmp_path) as sim, core_session(sim, on_server=observe) as shim:
        mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
        await shim.wait_state(mid, "SEALED")
    assert asked == ["sealed"]
    records = wal_records(sim.project, mid)
    assert records[-1].type == RecordType.MISSION_STATE
    assert records[-1].data["state"] == "sealed"
    assert not [r for r in records if r.type == RecordType.MISSION_CANCEL]
    assert disk_model(sim.project, mid).state is MissionState.SEALED
