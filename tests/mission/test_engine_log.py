"""The engine binds its mission to every log record of its task tree: one file per mission."""

from __future__ import annotations

import stat
from pathlib import Path

import anyio
import orjson
import pytest

from opencode_orchestrator.log import LogSettings, configure_logging
from opencode_orchestrator.mission.engine import MissionEngine, mission_log_path
from opencode_orchestrator.mission.states import MissionState
from tests.mission.enginesupport import BOUND, run_mission, sim_config, simulated

pytestmark = pytest.mark.anyio


def _records(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_text().splitlines()]


async def test_two_missions_in_one_process_each_keep_their_own_log(tmp_path: Path) -> None:
    # The plugin's core runs several missions at once in one process.
    configure_logging("warning")
    states: dict[str, MissionState] = {}
    async with simulated(tmp_path, sim_config(planner={"units": 3})) as sim:

        async def one(mission_id: str) -> None:
            states[mission_id] = (await run_mission(sim, mission_id=mission_id)).state

        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:
                tg.start_soon(one, "m-one")
                tg.start_soon(one, "m-two")
    assert states == {"m-one": MissionState.SEALED, "m-two": MissionState.SEALED}
    for mission_id in states:
        path = mission_log_path(sim.project, mission_id)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        records = _records(path)
        assert {r["mission_id"] for r in records} == {mission_id}
        events = [r["event"] for r in records]
        assert events[0] == "wal.opened"
        assert events.count("mission.created") == 1
        assert events.count("plan.accepted") == 1
        assert events.count("mission.sealed") == 1
        dispatched = {r["unit"] for r in records if r.get("state") == "dispatched"}
        assert dispatched == {"u01", "u02", "u03"}


async def test_the_engine_takes_its_log_settings(tmp_path: Path) -> None:
    configure_logging("warning")
    async with (
        simulated(tmp_path, sim_config(planner={"units": 1})) as sim,
        MissionEngine.create(
            sim.project, "goal", sim.client, mission_id="m1", log=LogSettings(level="debug")
        ) as engine,
    ):
        with anyio.fail_after(BOUND):
            assert await engine.run() is MissionState.SEALED
    levels = {r["level"] for r in _records(mission_log_path(sim.project, "m1"))}
    assert "debug" in levels  # turn.intent and the like, below the default info
