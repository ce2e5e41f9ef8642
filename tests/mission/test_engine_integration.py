"""Planning and the integration phase on the simulator: plan retries, iterations, the seal.

The master reviewer's verdicts are drawn per review from the seeded
generator (``reviewer.master_fail_rate``); seed 8 at rate 0.5 fails the
first master review and passes the second, and rate 1.0 fails them all. The
planner's first ``planner.invalid_plans`` answers break the plan rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission.config import LimitsConfig, MissionConfig
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from tests.mission.enginesupport import only, run_mission, sim_config, simulated

pytestmark = pytest.mark.anyio

_FINDING = "simulated finding 1 on mission (seeded)"
_ONE_PASS = ["running", "barrier", "integration_review"]


async def test_master_review_findings_are_planned_as_a_new_iteration_then_sealed(
    tmp_path: Path,
) -> None:
    config = sim_config(seed=8, reviewer={"master_fail_rate": 0.5, "max_findings": 1})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim)
        store = await sim.record()
    wal, model = run.wal, run.model
    assert run.state is MissionState.SEALED
    assert wal.mission_states() == [*_ONE_PASS, "planning", *_ONE_PASS, "sealed"]
    assert model.iteration == 2
    # Iteration 2's units are namespaced, and they are the only new ones.
    assert list(model.units) == ["u01", "u02", "i2-u01", "i2-u02"]
    assert model.units["i2-u02"].spec.depends_on == ["i2-u01"]
    assert all(u.state is UnitState.VERIFIED for u in model.units.values())
    assert [u.iteration for u in model.units.values()] == [1, 1, 2, 2]
    # The second plan was asked for in a new planner session, with the findings.
    first, second = wal.intents(kind="plan")
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert first["session"] != second["session"]
    prompt = store.message(second["message"]).text
    assert "The integration review of iteration 1 found problems" in prompt
    assert _FINDING in prompt
    failed, passed = (v["verdict"]["verdict"] for v in wal.of(RecordType.REVIEW_VERDICT, unit=None))
    assert (failed, passed) == ("fail", "pass")
    assert only(wal.of(RecordType.MISSION_SEALED))["evidence"]["iteration"] == 2


async def test_the_same_findings_on_an_unchanged_project_block_the_mission(
    tmp_path: Path,
) -> None:
    # Units with no files change nothing, and the master finds the same thing again.
    config = sim_config(
        planner={"files_per_unit": 0}, reviewer={"master_fail_rate": 1.0, "max_findings": 1}
    )
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim)
    wal = run.wal
    assert run.state is MissionState.BLOCKED
    assert run.model.reason == "no progress: the same findings and the same diff as before"
    assert wal.mission_states() == [*_ONE_PASS, "planning", *_ONE_PASS, "blocked"]
    first, second = run.model.fingerprints
    assert first == second
    assert [f["findings"][0]["message"] for f in run.model.master_verdicts] == [_FINDING] * 2


async def test_a_mission_not_sealed_within_max_iterations_fails(tmp_path: Path) -> None:
    # The workers of each iteration rewrite the files, so it is not "no progress".
    config = sim_config(reviewer={"master_fail_rate": 1.0, "max_findings": 1})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim, MissionConfig(limits=LimitsConfig(max_iterations=2)))
    assert run.state is MissionState.FAILED
    assert run.model.reason == f"not sealed after 2 iteration(s): {_FINDING}"
    assert run.wal.mission_states() == [*_ONE_PASS, "planning", *_ONE_PASS, "failed"]
    assert len(set(run.model.fingerprints)) == 2


async def test_a_failing_mission_check_keeps_the_mission_from_its_seal(tmp_path: Path) -> None:
    async with simulated(tmp_path) as sim:
        run = await run_mission(
            sim,
            MissionConfig(
                checks=["echo the suite is red; exit 1"], limits=LimitsConfig(max_iterations=2)
            ),
        )
        store = await sim.record()
    wal = run.wal
    assert run.state is MissionState.FAILED
    assert run.model.reason == (
        "not sealed after 2 iteration(s): check failed: `echo the suite is red; exit 1`"
    )
    # The check ran at each integration review, and its failure was planned as work.
    checks = wal.of(RecordType.CHECK_RESULT, unit=None)
    assert [(c["exit_code"], c["output_tail"].strip()) for c in checks] == [
        (1, "the suite is red")
    ] * 2
    second = wal.intents(kind="plan")[1]
    assert "check failed: `echo the suite is red; exit 1`" in store.message(second["message"]).text


async def test_a_passing_mission_check_is_part_of_the_seal_evidence(tmp_path: Path) -> None:
    async with simulated(tmp_path) as sim:
        run = await run_mission(sim, MissionConfig(checks=["test -f src/u02/mod1.py"]))
    assert run.state is MissionState.SEALED
    evidence = only(run.wal.of(RecordType.MISSION_SEALED))["evidence"]
    assert evidence["checks"] == [
        {"command": "test -f src/u02/mod1.py", "exit_code": 0, "tail": ""}
    ]
    assert evidence["all_checks_passed"] is True


async def test_an_invalid_plan_goes_back_to_the_planner_with_its_problems(
    tmp_path: Path,
) -> None:
    async with simulated(tmp_path, sim_config(planner={"invalid_plans": 1})) as sim:
        run = await run_mission(sim)
        store = await sim.record()
    assert run.state is MissionState.SEALED
    first, second = run.wal.intents(kind="plan")
    assert first["session"] == second["session"]
    retry = store.message(second["message"]).text
    assert "cycle: u01 -> u02 -> u01" in retry
    assert "'../outside.py'" in retry
    accepted = only(run.wal.of(RecordType.PLAN_ACCEPTED))
    assert [u["depends_on"] for u in accepted["units"]] == [[], ["u01"]]


async def test_a_mission_with_no_valid_plan_after_its_retries_fails(tmp_path: Path) -> None:
    async with simulated(tmp_path, sim_config(planner={"invalid_plans": 3})) as sim:
        run = await run_mission(sim, MissionConfig(limits=LimitsConfig(plan_retries=2)))
    assert run.state is MissionState.FAILED
    assert run.wal.mission_states() == ["failed"]
    assert len(run.wal.intents(kind="plan")) == 3
    assert not run.wal.of(RecordType.PLAN_ACCEPTED)
    assert run.model.reason.startswith("no valid plan after retries: ")
    assert "cycle: u01 -> u02 -> u01" in run.model.reason
    assert "../outside.py" in run.model.reason


async def test_findings_with_no_room_left_under_the_unit_cap_fail_without_asking(
    tmp_path: Path,
) -> None:
    # Iteration 1 planned every unit the cap allows: any plan for the findings would
    # be refused for its size, so the planner is not asked (its tries were spent).
    config = sim_config(planner={"units": 2}, reviewer={"master_fail_rate": 1.0})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim, MissionConfig(limits=LimitsConfig(max_units=2)))
    assert run.state is MissionState.FAILED
    assert "no room for iteration 2's plan" in run.model.reason
    assert "limits.max_units is 2" in run.model.reason
    assert len(run.wal.intents(kind="plan")) == 1
