"""The engine's happy path and its review loops, end to end on the simulator.

Every assertion reads what was recorded: the mission's WAL (the order the
engine decided things in) and the simulator's store (what OpenCode was
asked). Nothing here depends on how long anything took.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opencode_orchestrator.mission.config import LimitsConfig, MissionConfig, TimeoutsConfig
from opencode_orchestrator.mission.contracts import ReviewVerdict, Verdict
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.mission.store import load_mission
from tests.mission.enginesupport import only, run_mission, sim_config, simulated

pytestmark = pytest.mark.anyio

_HAPPY_UNIT = ["ready", "dispatched", "accepted", "reported", "reviewing", "verified"]


async def test_a_mission_goes_through_every_phase_and_seals(tmp_path: Path) -> None:
    config = sim_config(planner={"units": 4, "shape": "diamond", "width": 2})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim)
    wal = run.wal
    assert run.state is MissionState.SEALED
    assert wal.mission_states() == ["running", "barrier", "integration_review", "sealed"]
    assert set(run.model.units) == {"u01", "u02", "u03", "u04"}
    for uid in run.model.units:
        assert wal.unit_states(uid) == _HAPPY_UNIT, uid
        assert sorted(wal.kinds(uid)) == ["review", "shadow_review", "work"], uid
    # The barrier: it is entered only once every unit is final.
    barrier = wal.index(RecordType.MISSION_STATE, state="barrier")
    assert all(
        wal.index(RecordType.UNIT_STATE, unit=uid, state="verified") < barrier
        for uid in run.model.units
    )
    # More than one unit: the master reviewer saw the whole change before the seal.
    master = only(wal.intents(kind="master_review"))
    assert wal.index(RecordType.TURN_INTENT, turn=master["turn"]) > barrier
    sealed = only(wal.of(RecordType.MISSION_SEALED))["evidence"]
    assert sealed["all_units_verified"]
    assert sealed["all_checks_passed"]
    assert sealed["units"] == dict.fromkeys(run.model.units, "verified")
    assert ReviewVerdict.model_validate(sealed["master_verdict"]).verdict is Verdict.PASS
    for n in range(1, 5):
        assert (sim.project / f"src/u0{n}/mod1.py").is_file()


async def test_the_shadow_review_starts_on_the_first_written_file(tmp_path: Path) -> None:
    # The worker writes three files with a pause between the events of its turn, so
    # its turn is still going when the first write completes.
    config = sim_config(planner={"units": 1, "files_per_unit": 3}, latency={"step": 0.05})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim)
        store = await sim.record()
    wal = run.wal
    assert run.state is MissionState.SEALED
    work = only(wal.intents(kind="work"))
    shadow = only(wal.intents(kind="shadow_review"))
    final = only(wal.intents(kind="review"))
    assert wal.index(RecordType.TURN_INTENT, turn=shadow["turn"]) < wal.index(
        RecordType.TURN_ENDED, turn=work["turn"]
    ), "the shadow review started while the worker was still working"
    # It reviewed a change in progress, and the final review ran after it, in its session.
    shadow_prompt = store.message(shadow["message"]).text
    assert "Shadow review: the worker is still writing this unit" in shadow_prompt
    assert "The worker has finished this unit" in store.message(final["message"]).text
    assert final["session"] == shadow["session"]
    shadow_verdict, final_verdict = wal.of(RecordType.REVIEW_VERDICT, unit="u01")
    assert (shadow_verdict["shadow"], final_verdict["shadow"]) == (True, False)
    assert wal.index(RecordType.TURN_ENDED, turn=shadow["turn"]) < wal.index(
        RecordType.TURN_INTENT, turn=final["turn"]
    )
    # Evidence: the engine let it go once the unit was verified, the journal has it.
    assert run.model.units["u01"].shadow_verdict is None
    replayed = load_mission(sim.project, run.mission_id)
    assert replayed.units["u01"].shadow_verdict == shadow_verdict["verdict"]


async def test_a_failed_review_goes_back_to_the_worker_who_fixes_it(tmp_path: Path) -> None:
    # Seed 1: u03's first final review fails, the one after the fix passes.
    config = sim_config(
        seed=1, planner={"units": 3, "shape": "fan-out"}, reviewer={"fail_rate": 0.5}
    )
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim)
        store = await sim.record()
    wal = run.wal
    assert run.state is MissionState.SEALED
    fixed = [uid for uid in run.model.units if "fix" in wal.kinds(uid)]
    assert fixed, "some unit's review failed at first"
    for uid in fixed:
        unit = run.model.units[uid]
        assert (unit.state, unit.attempt, unit.rounds) == (UnitState.VERIFIED, 1, 2)
        failed, passed = wal.of(RecordType.REVIEW_VERDICT, unit=uid, shadow=False)
        assert failed["verdict"]["verdict"] == "fail"
        assert passed["verdict"]["verdict"] == "pass"
        work, fix = (i for i in wal.intents(unit=uid) if i["kind"] in ("work", "fix"))
        assert fix["kind"] == "fix"
        assert fix["session"] == work["session"]
        prompt = store.message(fix["message"]).text
        for finding in failed["verdict"]["findings"]:
            assert finding["message"] in prompt
        assert wal.unit_states(uid)[-5:] == [
            "reviewing",
            "running",
            "reported",
            "reviewing",
            "verified",
        ]


async def test_a_review_that_keeps_failing_fails_the_unit_with_its_evidence(
    tmp_path: Path,
) -> None:
    config = sim_config(reviewer={"fail_rate": 1.0, "max_findings": 1})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim, MissionConfig(limits=LimitsConfig(max_attempts=2)))
    u01, u02 = run.model.units["u01"], run.model.units["u02"]
    assert run.state is MissionState.FAILED
    assert [k for k in run.wal.kinds("u01") if k != "shadow_review"] == [
        "work",
        "review",
        "fix",
        "review",
    ]
    assert (u01.state, u01.attempt, u01.rounds) == (UnitState.FAILED, 1, 2)
    assert u01.reason == "review failed after 2 round(s): simulated finding 1 on u01 (seeded)"
    assert (u02.state, u02.reason) == (UnitState.SKIPPED, "dependency u01 failed")
    assert run.wal.mission_states() == ["running", "barrier", "failed"]


async def test_a_failing_check_goes_back_to_the_worker_with_its_output(tmp_path: Path) -> None:
    command = "echo check output for {unit}; exit 3"
    config = sim_config(planner={"units": 1, "unit_checks": [command]})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim, MissionConfig(limits=LimitsConfig(max_attempts=2)))
        store = await sim.record()
    wal, unit = run.wal, run.model.units["u01"]
    check = command.replace("{unit}", "u01")
    assert run.state is MissionState.FAILED
    results = wal.of(RecordType.CHECK_RESULT, unit="u01")
    assert [(r["command"], r["exit_code"]) for r in results] == [(check, 3)] * 2
    assert results[0]["output_tail"].strip() == "check output for u01"
    # The reviewer passed the change; the check alone sent it back, output and all.
    fix = only(wal.intents(unit="u01", kind="fix"))
    prompt = store.message(fix["message"]).text
    assert check in prompt
    assert "exit 3" in prompt
    assert "check output for u01" in prompt
    assert (unit.state, unit.rounds) == (UnitState.FAILED, 2)
    assert unit.reason == f"checks failed after 2 round(s): `{check}` exit 3"


async def test_a_unit_whose_check_times_out_fails_with_a_reason_that_says_so(
    tmp_path: Path,
) -> None:
    # The reason read "`sleep 5` exit None", in status and in both reports.
    config = sim_config(planner={"units": 1, "unit_checks": ["sleep 5"]})
    mission = MissionConfig(limits=LimitsConfig(max_attempts=1), timeouts=TimeoutsConfig(check=0.3))
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim, mission)
    unit = run.model.units["u01"]
    assert unit.state is UnitState.FAILED
    assert re.fullmatch(
        r"checks failed after 1 round\(s\): `sleep 5` timed out after [\d.]+ s", unit.reason
    ), unit.reason


async def test_a_check_that_passes_after_the_fix_verifies_the_unit(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    # Fails the first time it runs for a unit, passes after.
    command = f"test -e {marks}/{{unit}} || {{ touch {marks}/{{unit}}; echo not yet; exit 1; }}"
    config = sim_config(planner={"units": 1, "unit_checks": [command]})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim)
    wal, unit = run.wal, run.model.units["u01"]
    assert run.state is MissionState.SEALED
    assert [r["exit_code"] for r in wal.of(RecordType.CHECK_RESULT, unit="u01")] == [1, 0]
    assert [k for k in wal.kinds("u01") if k != "shadow_review"] == [
        "work",
        "review",
        "fix",
        "review",
    ]
    assert (unit.state, unit.attempt, unit.rounds) == (UnitState.VERIFIED, 1, 2)


async def test_child_sessions_belong_to_the_mission_and_say_what_they_are(
    tmp_path: Path,
) -> None:
    async with simulated(tmp_path) as sim:
        run = await run_mission(sim)
        store = await sim.record()
    model = run.model
    short = run.mission_id[:8]
    root = store.sessions[model.parent_session or ""]
    assert root["title"] == f"mission {run.mission_id}: build the thing"
    created = run.wal.of(RecordType.SESSION_CREATED)
    assert {c["role"] for c in created} == {"planner", "worker", "reviewer", "master"}
    for record in created:
        session = store.sessions[record["session"]]
        assert session["parentID"] == model.parent_session
        where = "mission" if record["unit"] is None else f"unit {record['unit']}"
        assert session["title"] == (
            f"mission {short} · {where} · {record['role']} · attempt {record['attempt']}"
        )
    assert {s["id"] for s in store.children(root["id"])} == {c["session"] for c in created}
    replayed = load_mission(sim.project, run.mission_id)
    assert store.sessions[replayed.units["u02"].sessions["worker"]]["title"] == (
        f"mission {short} · unit u02 · worker · attempt 1"
    )
