"""Fractal delegation on the simulator: a worker splits its unit into sub-units.

The simulator's worker splits a unit with files on its first turn
(``worker.split_rate``), one sub-unit ``part<k>`` per file, whatever its
prompt allows: so a sub-unit at the depth limit splits too, and must be
refused and told why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.mission.config import LimitsConfig, MissionConfig
from opencode_orchestrator.mission.contracts import AGENT_WORKER
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.sim.agents import scripted
from opencode_orchestrator.sim.agents.base import AgentContext, TurnScript
from opencode_orchestrator.sim.agents.mission import mission_script
from tests.mission.enginesupport import (
    only,
    resume_mission,
    run_mission,
    run_until_cut,
    sim_config,
    simulated,
)

pytestmark = pytest.mark.anyio

_SPLITTING = sim_config(planner={"units": 1, "files_per_unit": 2}, worker={"split_rate": 1.0})


async def test_a_split_unit_runs_its_sub_units_one_level_deeper_then_resumes(
    tmp_path: Path,
) -> None:
    async with simulated(tmp_path, _SPLITTING) as sim:
        run = await run_mission(sim, MissionConfig(limits=LimitsConfig(max_depth=1)))
        store = await sim.record()
    wal, units = run.wal, run.model.units
    assert run.state is MissionState.SEALED
    assert set(units) == {"u01", "u01.part1", "u01.part2"}
    parent = units["u01"]
    assert parent.children == ("u01.part1", "u01.part2")
    for child in ("u01.part1", "u01.part2"):
        assert (units[child].depth, units[child].parent) == (1, "u01")
        assert units[child].state is UnitState.VERIFIED
    sub_plan = only(wal.of(RecordType.PLAN_ACCEPTED, parent_unit="u01"))
    assert [u["files"] for u in sub_plan["units"]] == [["src/u01/mod1.py"], ["src/u01/mod2.py"]]
    assert wal.unit_states("u01") == [
        "ready",
        "dispatched",
        "accepted",
        "reported",
        "delegated",
        "running",
        "reported",
        "reviewing",
        "verified",
    ]
    # The parent waited for every sub-unit, then its own session got their results.
    resumed = wal.index(RecordType.UNIT_STATE, unit="u01", state="running")
    for child in parent.children:
        assert wal.index(RecordType.UNIT_STATE, unit=child, state="verified") < resumed
    work, done = (i for i in wal.intents(unit="u01") if i["kind"] in ("work", "subunits_done"))
    assert done["kind"] == "subunits_done"
    assert done["session"] == work["session"]
    prompt = store.message(done["message"]).text
    assert "unit u01.part1 done" in prompt
    assert "unit u01.part2 done" in prompt
    assert parent.state is UnitState.VERIFIED
    assert parent.attempt == 1
    assert (sim.project / "src/u01/mod2.py").is_file()


async def test_at_the_depth_limit_a_split_is_refused_and_the_worker_told(tmp_path: Path) -> None:
    async with simulated(tmp_path, _SPLITTING) as sim:
        run = await run_mission(sim, MissionConfig(limits=LimitsConfig(max_depth=1)))
        store = await sim.record()
    wal, units = run.wal, run.model.units
    assert run.state is MissionState.SEALED
    for child in ("u01.part1", "u01.part2"):
        # The sub-unit split too (its first answer), was refused, and did the work itself.
        assert not units[child].children
        assert [k for k in wal.kinds(child) if k in ("work", "nudge")] == ["work", "nudge"]
        refused = wal.of(RecordType.UNIT_STATE, unit=child, state="running")[0]
        assert refused["reason"].startswith("splitting is not allowed at depth 1 (max 1)")
        nudge = only(wal.intents(unit=child, kind="nudge"))
        assert refused["reason"] in store.message(nudge["message"]).text
        assert units[child].state is UnitState.VERIFIED
        assert units[child].attempt == 1
    assert len(wal.of(RecordType.PLAN_ACCEPTED)) == 2, "the plan and u01's sub-plan only"


async def test_with_depth_zero_no_unit_may_split(tmp_path: Path) -> None:
    async with simulated(tmp_path, _SPLITTING) as sim:
        run = await run_mission(sim, MissionConfig(limits=LimitsConfig(max_depth=0)))
    assert run.state is MissionState.SEALED
    assert set(run.model.units) == {"u01"}
    assert [k for k in run.wal.kinds("u01") if k != "shadow_review"] == ["work", "nudge", "review"]


async def test_a_worker_that_keeps_splitting_after_a_refusal_fails_its_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulator's worker splits only on a unit's first turn; this one splits on
    # every turn, so after the refusal it answers with a split again.
    first = AgentContext(sim_config(worker={"split_rate": 1.0}))

    def stubborn(ctx: AgentContext, agent: str, prompt: str, directory: str) -> TurnScript:
        script = mission_script(first if agent == AGENT_WORKER else ctx, agent, prompt, directory)
        first.attempts.clear()  # every worker turn is a "first" one
        return script

    monkeypatch.setattr(scripted, "mission_script", stubborn)
    config = sim_config(planner={"units": 1, "files_per_unit": 2})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(
            sim, MissionConfig(limits=LimitsConfig(max_depth=0, max_attempts=2))
        )
    unit = run.model.units["u01"]
    assert run.state is MissionState.FAILED
    assert unit.state is UnitState.FAILED
    for attempt in (1, 2):
        assert run.wal.kinds("u01", attempt) == ["work", "nudge"]
    assert all("split refused again" in f for f in unit.failures)


async def test_a_split_report_cut_before_its_refusal_is_refused_on_resume(
    tmp_path: Path,
) -> None:
    # The crash comes between a sub-unit's split report (REPORTED) and the refusal
    # that sends its worker back: the resumed engine must refuse it then.
    def after_split_report(record_type: str, data: dict[str, Any]) -> bool:
        return (
            record_type == RecordType.UNIT_STATE
            and data["state"] == "reported"
            and "split into" in data["reason"]
            and data["unit"].startswith("u01.")
        )

    async with simulated(tmp_path, _SPLITTING) as sim:
        config = MissionConfig(limits=LimitsConfig(max_depth=1))
        mission_id, was_cut = await run_until_cut(sim, after_split_report, config=config)
        assert was_cut
        run = await resume_mission(sim, mission_id)
    assert run.state is MissionState.SEALED, run.model.reason
    for child in ("u01.part1", "u01.part2"):
        assert not run.model.units[child].children
        assert run.model.units[child].state is UnitState.VERIFIED


async def test_a_parent_whose_sub_unit_fails_fails_too(tmp_path: Path) -> None:
    config = sim_config(
        planner={"units": 2, "files_per_unit": 2},
        worker={"split_rate": 1.0},
        reviewer={"fail_rate": 1.0},
    )
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(
            sim, MissionConfig(limits=LimitsConfig(max_depth=1, max_attempts=1))
        )
    units = run.model.units
    assert run.state is MissionState.FAILED
    assert units["u01.part1"].state is UnitState.FAILED
    assert units["u01.part2"].state is UnitState.FAILED
    assert units["u01"].state is UnitState.FAILED
    assert units["u01"].reason == "sub-unit(s) not verified: u01.part1, u01.part2"
    assert run.wal.unit_states("u01")[-2:] == ["delegated", "failed"]
    assert units["u02"].state is UnitState.SKIPPED


async def test_a_split_that_would_pass_the_unit_cap_is_refused(tmp_path: Path) -> None:
    # Three units of two files each, a cap of 7: splits are taken while they fit (a
    # unit splits into a sub-unit per file, so a one-file sub-unit into one), then
    # refused; one sub-unit at a time once slipped past the cap (33 units of 12).
    config = sim_config(planner={"units": 3, "files_per_unit": 2}, worker={"split_rate": 1.0})
    limits = LimitsConfig(max_units=7, max_depth=3)
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim, MissionConfig(limits=limits))
    assert run.state is MissionState.SEALED, run.model.reason
    assert len(run.model.units) <= 7
    refused = [
        d["reason"]
        for d in run.wal.of(RecordType.UNIT_STATE, state="running")
        if "would pass the mission's cap of 7 units" in d["reason"]
    ]
    assert refused
