"""Scenarios of issue 5 §3 that need no shim, driven with ``run --server``.

(2) a reviewer fails a unit once, the worker fixes it in its session, the
mission seals; (3) the model answers 429 for a while: OpenCode retries, the
orchestrator lowers its concurrency, nothing fails; (8) the planner's
structured output is malformed: a retry that says why, then a clear failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission.contracts import ReviewVerdict
from opencode_orchestrator.mission.records import RecordType, TurnKind
from opencode_orchestrator.testing.fake_llm_turns import newest_user_text
from opencode_orchestrator.testing.mission_e2e import scenario_world
from opencode_orchestrator.testing.scenario import FileWrite, Malformed
from opencode_orchestrator.testing.scenario_roles import Role
from opencode_orchestrator.testing.scenario_roles import TurnKind as Played
from tests.e2e.helpers import of, run_to_end, verdicts
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
    async with scenario_world(tmp_path / "project", scenario) as world:
        _, records = await run_to_end(world, "sealed")
        assert (world.project / "pkg/left.py").read_text() == FIXED_LEFT
        assert verdicts(records, "b", shadow=False) == ["fail", "pass"]
        for unit in ("a", "c", "d"):
            assert verdicts(records, unit, shadow=False) == ["pass"], unit
        # The fix went to the same worker session, as the next turn after the verdict.
        intents = of(records, RecordType.TURN_INTENT, unit="b")
        work = [t for t in intents if t.data["kind"] in {"work", "fix"}]
        assert [t.data["kind"] for t in work] == ["work", "fix"]
        assert work[0].data["session"] == work[1].data["session"]
        failed = of(records, RecordType.REVIEW_VERDICT, unit="b", shadow=False)[0]
        assert failed.seq < work[1].seq
        # The worker was told the finding; the reviewer reviewed twice in one session.
        fix_prompts = [
            newest_user_text(body["messages"])
            for body in world.llm.requests
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


async def test_rate_limits_are_ridden_out_with_lower_concurrency(tmp_path: Path) -> None:
    scenario = with_unit(with_unit(diamond(), "b", rate_limit=3), "c", rate_limit=3)
    async with scenario_world(tmp_path / "project", scenario) as world:
        run, records = await run_to_end(world, "sealed")
        limited = [r for r in world.player.requests if r.answer == "429"]
        assert sorted(str(r.unit) for r in limited) == ["b"] * 3 + ["c"] * 3
        # No unit failed or needed another attempt.
        for unit in ("a", "b", "c", "d"):
            states = [r.data["state"] for r in of(records, RecordType.UNIT_STATE, unit=unit)]
            assert "failed" not in states
            assert states.count("dispatched") == 1, (unit, states)
        assert "pool.limit_decreased" in run.stderr, run.explain()


async def test_a_malformed_plan_is_retried_with_the_reason(tmp_path: Path) -> None:
    scenario = single(malformed_plans=1, malformed_as=Malformed.TEXT)
    async with scenario_world(tmp_path / "project", scenario) as world:
        _, records = await run_to_end(world, "sealed")
        plans = of(records, RecordType.TURN_INTENT, kind=TurnKind.PLAN.value)
        assert len(plans) == 2
        assert plans[0].data["session"] == plans[1].data["session"]
        ended = of(records, RecordType.TURN_ENDED, turn=plans[0].data["turn"])[0]
        assert ended.data["error_name"] == "StructuredOutputError"
        planner = world.player.played(Role.PLANNER)
        assert len(planner) == 2
        retry = [
            newest_user_text(body["messages"])
            for body in world.llm.requests
            if "Your previous plan was rejected" in newest_user_text(body.get("messages") or [])
        ]
        assert retry
        assert "no plan was returned" in retry[0]
        assert (world.project / "only.txt").read_text() == "the one file\n"


async def test_a_planner_that_never_answers_a_plan_fails_the_mission_clearly(
    tmp_path: Path,
) -> None:
    scenario = single(malformed_plans=10, malformed_as=Malformed.SCHEMA)
    async with scenario_world(tmp_path / "project", scenario) as world:
        run, records = await run_to_end(world, "failed")
        reason = run.document["reason"]
        assert "no valid plan after retries" in reason, run.explain()
        assert "the answer is not a plan" in reason, run.explain()
        # Asked once and retried plan_retries (2) times, in one session; no unit ever ran.
        plans = of(records, RecordType.TURN_INTENT, kind=TurnKind.PLAN.value)
        assert len(plans) == 3
        assert len({p.data["session"] for p in plans}) == 1
        assert of(records, RecordType.PLAN_ACCEPTED) == []
        assert [t.role for t in world.player.turns] == [Role.PLANNER] * 3
        assert not (world.project / "only.txt").exists()
