"""Scenarios of issue 5 §3 through the installed shim, missions started with ``/extreme-mission``.

(2) a reviewer fails a unit once, the worker fixes it in its session, the
mission seals; (3) the model answers 429 for a while: OpenCode backs off, the
core lowers its concurrency, nothing fails; (6) a worker's write inside the
project but outside its unit's files is refused by the shim, and the mission
still seals; (8) the planner's structured output is malformed: a retry that
says why, then a failure the user is shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission.contracts import ReviewVerdict
from opencode_orchestrator.mission.records import RecordType, TurnKind
from opencode_orchestrator.testing.fake_llm_turns import newest_user_text
from opencode_orchestrator.testing.scenario import FileWrite, Malformed
from opencode_orchestrator.testing.scenario_roles import Role
from opencode_orchestrator.testing.scenario_roles import TurnKind as Played
from opencode_orchestrator.testing.shim_e2e import MISSION_DEADLINE, shim_world
from opencode_orchestrator.wal.record import Record
from tests.e2e.helpers import of, verdicts
from tests.e2e.scenarios import diamond, single, with_unit

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode, pytest.mark.e2e]

FINDING = "LEFT must be derived from BASE, not hard-coded"
FIXED_LEFT = "from pkg.base import BASE\n\nLEFT = BASE + 1\n"
FAIL = ReviewVerdict.model_validate(
    {
        "verdict": "fail",
        "findings": [{"severity": "major", "message": FINDING, "file": "pkg/left.py"}],
    }
)


def _unit_states(records: list[Record], unit: str) -> list[str]:
    return [r.data["state"] for r in of(records, RecordType.UNIT_STATE, unit=unit)]


async def test_a_unit_failed_once_is_fixed_in_its_session_and_the_mission_seals(
    tmp_path: Path,
) -> None:
    scenario = with_unit(
        diamond(),
        "b",
        writes=[FileWrite(path="pkg/left.py", content="LEFT = 2\n")],
        fixes=[FileWrite(path="pkg/left.py", content=FIXED_LEFT)],
        reviews=[FAIL],
    )
    async with shim_world(tmp_path / "project", scenario) as world:
        mission = await world.start_mission()
        async with world.deadline(MISSION_DEADLINE, "end", mission.mission_id):
            records = await world.wait_for_end(mission.mission_id)
        assert records[-1].data["state"] == "sealed", await world.explain(mission.mission_id)

        assert (world.project / "pkg/left.py").read_text() == FIXED_LEFT
        assert verdicts(records, "b", shadow=False) == ["fail", "pass"]
        for unit in ("a", "c", "d"):
            assert verdicts(records, unit, shadow=False) == ["pass"], unit
        # The fix went to the same worker session, as the next turn after the verdict;
        # the unit was dispatched once (a fix round, not a new attempt).
        intents = of(records, RecordType.TURN_INTENT, unit="b")
        work = [t for t in intents if t.data["kind"] in {"work", "fix"}]
        assert [t.data["kind"] for t in work] == ["work", "fix"]
        assert work[0].data["session"] == work[1].data["session"]
        failed = of(records, RecordType.REVIEW_VERDICT, unit="b", shadow=False)[0]
        assert failed.seq < work[1].seq
        assert _unit_states(records, "b").count("dispatched") == 1
        # The worker was told the finding; the reviewer reviewed twice in one session.
        fixes = world.player.played(Role.WORKER, Played.FIX, "b")
        assert len(fixes) == 1
        fix_prompts = [
            newest_user_text(body["messages"])
            for body in world.world.llm.requests
            if "did not pass" in newest_user_text(body.get("messages") or [])
        ]
        assert fix_prompts
        assert all(FINDING in text for text in fix_prompts)
        reviews = world.player.played(Role.REVIEWER, Played.REVIEW, "b")
        assert [t.number for t in reviews] == [1, 2]
        assert reviews[0].session == reviews[1].session
        assert [t.kind for t in world.player.played(Role.WORKER, unit="b")] == [
            Played.WORK,
            Played.FIX,
        ]
        assert world.player.unexpected == []


async def test_rate_limits_are_ridden_out_with_lower_concurrency(tmp_path: Path) -> None:
    scenario = with_unit(with_unit(diamond(), "b", rate_limit=3), "c", rate_limit=3)
    async with shim_world(tmp_path / "project", scenario) as world:
        mission = await world.start_mission()
        async with world.deadline(MISSION_DEADLINE, "end", mission.mission_id):
            records = await world.wait_for_end(mission.mission_id)
        assert records[-1].data["state"] == "sealed", await world.explain(mission.mission_id)

        # The fake LLM refused b's and c's workers three times each...
        limited = [r for r in world.player.requests if r.answer == "429"]
        assert sorted(str(r.unit) for r in limited) == ["b"] * 3 + ["c"] * 3
        # ... OpenCode backed off (its sessions went to `retry`) and called again...
        limited_sessions = {r.session for r in limited}
        retrying = {
            e["properties"]["sessionID"]
            for e in world.events
            if e.get("type") == "session.status"
            and e["properties"].get("status", {}).get("type") == "retry"
        }
        assert limited_sessions <= retrying
        for unit in ("b", "c"):
            turn = world.player.played(Role.WORKER, Played.WORK, unit)[0]
            assert turn.requests > 3
            assert turn.answered is not None
        # ... and the core lowered its concurrency (its log, in the shim's log file).
        lowered = [
            line for line in world.log_lines() if line.get("event") == "pool.limit_decreased"
        ]
        assert lowered, await world.explain(mission.mission_id)
        assert all(line["new"] < line["old"] for line in lowered)
        # No unit failed or needed another attempt.
        for unit in ("a", "b", "c", "d"):
            states = _unit_states(records, unit)
            assert "failed" not in states, (unit, states)
            assert states.count("dispatched") == 1, (unit, states)
            assert states[-1] == "verified", (unit, states)
        for path, content in scenario.expected_files().items():
            assert (world.project / path).read_text() == content, path


async def test_a_write_outside_the_unit_scope_is_refused_and_the_mission_seals(
    tmp_path: Path,
) -> None:
    # b's scope is pkg/left.py; pkg/extra.py is inside the project, outside that scope.
    stray = FileWrite(path="pkg/extra.py", content="STRAY = True\n")
    scenario = with_unit(diamond(), "b", out_of_scope=[stray])
    async with shim_world(tmp_path / "project", scenario) as world:
        mission = await world.start_mission()
        async with world.deadline(MISSION_DEADLINE, "end", mission.mission_id):
            records = await world.wait_for_end(mission.mission_id)
        assert records[-1].data["state"] == "sealed", await world.explain(mission.mission_id)

        # The refusal came back to the model as the write's result, with the core's reason.
        work = world.player.played(Role.WORKER, Played.WORK, "b")
        assert len(work) == 1
        refusal = work[0].results[0]
        assert (
            f"write refused: pkg/extra.py is outside the file scope of unit b "
            f"(mission {mission.mission_id}), which is: pkg/left.py." in refusal
        ), work[0].results
        assert "say in your final report" in refusal
        # The worker carried on: its own file was written after the refusal.
        assert work[0].results[1] == "Wrote file successfully."
        assert not (world.project / "pkg/extra.py").exists()
        for path, content in scenario.expected_files().items():
            assert (world.project / path).read_text() == content, path
        assert _unit_states(records, "b")[-1] == "verified"
        # No other worker's write was refused.
        refused = [
            t.unit for t in world.player.turns for r in t.results if "refused" in r.split(":")[0]
        ]
        assert refused == ["b"]


async def test_a_plan_answered_in_prose_is_retried_with_the_reason_and_the_mission_seals(
    tmp_path: Path,
) -> None:
    scenario = single(malformed_plans=1, malformed_as=Malformed.TEXT)
    async with shim_world(tmp_path / "project", scenario) as world:
        mission = await world.start_mission()
        async with world.deadline(MISSION_DEADLINE, "end", mission.mission_id):
            records = await world.wait_for_end(mission.mission_id)
        assert records[-1].data["state"] == "sealed", await world.explain(mission.mission_id)
        # OpenCode ended the prose answer with StructuredOutputError; the same planner
        # session was asked again, told that no plan came back.
        plans = of(records, RecordType.TURN_INTENT, kind=TurnKind.PLAN.value)
        assert len(plans) == 2
        assert plans[0].data["session"] == plans[1].data["session"]
        ended = of(records, RecordType.TURN_ENDED, turn=plans[0].data["turn"])[0]
        assert ended.data["error_name"] == "StructuredOutputError"
        assert len(world.player.played(Role.PLANNER)) == 2
        retry = [
            newest_user_text(body["messages"])
            for body in world.world.llm.requests
            if "Your previous plan was rejected" in newest_user_text(body.get("messages") or [])
        ]
        assert retry
        assert "no plan was returned" in retry[0]
        assert (world.project / "only.txt").read_text() == "the one file\n"


async def test_a_malformed_plan_is_retried_with_the_reason_then_fails_clearly(
    tmp_path: Path,
) -> None:
    scenario = single(malformed_plans=10, malformed_as=Malformed.SCHEMA)
    async with shim_world(tmp_path / "project", scenario) as world:
        mission = await world.start_mission()
        mission_id = mission.mission_id
        async with world.deadline(MISSION_DEADLINE, "end", mission_id):
            records = await world.wait_for_end(mission_id)
            toast = await world.wait_for_toast(lambda t: t["variant"] == "error")

        # Asked once and retried plan_retries (2) times, in one session; no unit ran.
        plans = of(records, RecordType.TURN_INTENT, kind=TurnKind.PLAN.value)
        assert len(plans) == 3
        assert len({p.data["session"] for p in plans}) == 1
        assert of(records, RecordType.PLAN_ACCEPTED) == []
        assert [t.role for t in world.player.turns] == [Role.PLANNER] * 3
        assert not (world.project / "only.txt").exists()
        # Each retry told the planner what was wrong with its answer.
        retries = [
            newest_user_text(body["messages"])
            for body in world.world.llm.requests
            if "Your previous plan was rejected" in newest_user_text(body.get("messages") or [])
        ]
        assert retries
        assert all("the answer is not a plan" in text for text in retries)
        assert "units" in retries[0]

        # The WAL ends FAILED with the reason...
        final = records[-1]
        assert final.type == RecordType.MISSION_STATE
        assert final.data["state"] == "failed"
        reason = final.data["reason"]
        assert reason.startswith("no valid plan after retries: the answer is not a plan")
        # ... an error toast says so...
        assert toast["message"].startswith(f"Mission {mission_id} FAILED")
        assert "no valid plan after retries" in toast["message"]
        # ... and so does /mission-status in the session where the mission was started.
        status = await world.command(mission.session, "mission-status", mission_id)
        assert "FAILED" in status, status
        assert "no valid plan after retries" in status, status
