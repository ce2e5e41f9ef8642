"""The mission rides out an OpenCode server that restarts, storms with 429s, or dies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from opencode_orchestrator.mission.config import MissionConfig, TimeoutsConfig
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import mission_dir
from opencode_orchestrator.opencode.errors import OpenCodeConnectionError
from opencode_orchestrator.sim import FaultConfig, StormConfig
from opencode_orchestrator.wal.log import Durability
from tests.mission.enginesupport import (
    BOUND,
    GOAL,
    Tap,
    Wal,
    run_mission,
    sim_config,
    simulated,
)

pytestmark = pytest.mark.anyio


# On uvloop, restarting the *in-process* uvicorn simulator under open connections
# hangs about one run in six with the loop spinning in C (no Python frame runs,
# not even a watchdog task); on the stock loop it never did in dozens of runs.
# The engine's behaviour is what is tested here, so this test runs on the stock loop.
@pytest.mark.parametrize("anyio_backend", [("asyncio", {"use_uvloop": False})])
async def test_a_server_restart_mid_mission_is_ridden_out(tmp_path: Path) -> None:
    tap = Tap()
    third_prompt = anyio.Event()

    def hook(record_type: str, data: dict[str, Any]) -> None:
        if record_type == RecordType.TURN_INTENT and data["kind"] == "work":
            works = [d for t, d in tap.records if t == record_type and d["kind"] == "work"]
            if len(works) >= 3:
                third_prompt.set()

    tap.on(hook)
    async with simulated(tmp_path, sim_config(planner={"units": 6, "shape": "random"})) as sim:

        async def restart_at_the_third_prompt() -> None:
            await third_prompt.wait()
            await sim.server.restart()

        async with anyio.create_task_group() as tg:
            tg.start_soon(restart_at_the_third_prompt)
            run = await run_mission(sim, tap=tap)
            tg.cancel_scope.cancel()
    assert third_prompt.is_set()
    assert run.state is MissionState.SEALED, run.model.reason
    assert all(u.state.value == "verified" for u in run.model.units.values())


async def test_a_429_storm_is_ridden_out_and_no_unit_fails(tmp_path: Path) -> None:
    storm = StormConfig(share=0.7, duration=2.0, retry_after=0)
    config = sim_config(planner={"units": 5, "shape": "fan-out"})
    async with simulated(tmp_path, config) as sim:
        tap = Tap()

        def hook(record_type: str, data: dict[str, Any]) -> None:
            if record_type == RecordType.PLAN_ACCEPTED:
                sim.server.set_faults(FaultConfig(), storm=storm)

        tap.on(hook)
        run = await run_mission(sim, tap=tap)
    assert run.state is MissionState.SEALED, run.model.reason
    assert not [u for u in run.model.units.values() if u.failures]


async def test_a_dead_server_stops_the_mission_with_a_clear_error_and_it_resumes(
    tmp_path: Path,
) -> None:
    config = sim_config(planner={"units": 3, "shape": "chain"})
    patient = MissionConfig(timeouts=TimeoutsConfig(server_patience=1.0))
    async with simulated(tmp_path, config) as sim:
        project = sim.project
        mission_id = "dead-server"
        async with MissionEngine.create(
            project,
            GOAL,
            sim.client,
            config=patient,
            mission_id=mission_id,
            durability=Durability.NONE,
        ) as engine:
            tap = Tap()
            tap.attach(engine)
            stopped = anyio.Event()

            def hook(record_type: str, data: dict[str, Any]) -> None:
                if record_type == RecordType.TURN_ENDED and not stopped.is_set():
                    stopped.set()

            tap.on(hook)
            async with anyio.create_task_group() as tg:

                async def kill_server() -> None:
                    await stopped.wait()
                    await sim.server.stop()

                tg.start_soon(kill_server)
                with anyio.fail_after(BOUND), pytest.raises(OpenCodeConnectionError):
                    await engine.run()
    # Nothing was lost: the journal holds the mission, unfinished, ready to resume.
    assert Wal.read(project, mission_id).mission_states() == ["running"]


async def test_a_mission_opencode_never_answered_leaves_nothing_behind(tmp_path: Path) -> None:
    # Its empty journal and log stayed, a mission directory that status could not
    # read and resume could not use; the error was told to the caller already.
    project = tmp_path / "project"
    project.mkdir()
    async with simulated(tmp_path) as sim:
        await sim.server.stop()
        with anyio.fail_after(BOUND), pytest.raises(OpenCodeConnectionError):
            async with MissionEngine.create(
                project, GOAL, sim.client, mission_id="unborn", durability=Durability.NONE
            ):
                pytest.fail("the mission was created without a parent session")
    assert not mission_dir(project, "unborn").exists()
    assert mission_dir(project, "unborn").parent.is_dir(), "only the mission's own directory goes"
