"""The scenario model: validation, lookups, and what it leaves on disk."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opencode_orchestrator.mission.contracts import ReviewVerdict, Verdict
from opencode_orchestrator.testing.scenario import (
    FileEdit,
    FileWrite,
    PlanScript,
    Scenario,
    UnitScript,
)

FAIL = ReviewVerdict.model_validate(
    {"verdict": "fail", "findings": [{"severity": "major", "message": "m"}]}
)


def _scenario() -> Scenario:
    a = UnitScript(
        id="a",
        title="A",
        files=["a.py"],
        writes=[FileWrite(path="a.py", content="x = 1\n")],
        edits=[FileEdit(path="a.py", old="1", new="2")],
    )
    b = UnitScript(
        id="b",
        title="B",
        files=["b.py"],
        depends_on=["a"],
        writes=[FileWrite(path="b.py", content="bad\n")],
        fixes=[FileWrite(path="b.py", content="good\n")],
        reviews=[FAIL],
    )
    later = UnitScript(id="a", title="A again", writes=[FileWrite(path="c.py", content="c\n")])
    return Scenario(
        goal="g", plans=[PlanScript(units=[a, b]), PlanScript(units=[later])], master=[FAIL]
    )


def test_plan_output_is_a_valid_plan() -> None:
    plan = _scenario().plan(1).output()
    assert [u.id for u in plan.units] == ["a", "b"]
    assert plan.units[1].depends_on == ["a"]
    assert plan.units[0].description == "Implement A."


def test_plans_by_iteration_and_the_last_repeats() -> None:
    scenario = _scenario()
    assert scenario.plan(2).units[0].title == "A again"
    assert scenario.plan(7).units[0].title == "A again"


def test_units_are_found_by_their_namespaced_ids() -> None:
    scenario = _scenario()
    assert scenario.unit("a") is scenario.plans[0].units[0]
    assert scenario.unit("i2-a") is scenario.plans[1].units[0]
    assert scenario.unit("i3-a") is None  # no third plan: not namespaced, not a plan-1 id
    assert scenario.unit("zzz") is None


def test_master_verdicts_pass_beyond_the_list() -> None:
    scenario = _scenario()
    assert scenario.master_verdict(1).verdict is Verdict.FAIL
    assert scenario.master_verdict(2).verdict is Verdict.PASS


def test_expected_files_apply_edits_and_fixes() -> None:
    assert _scenario().expected_files() == {"a.py": "x = 2\n", "b.py": "good\n", "c.py": "c\n"}


@pytest.mark.parametrize("path", ["/etc/passwd", "../up.py", ""])
def test_writes_must_stay_in_the_project(path: str) -> None:
    with pytest.raises(ValidationError, match="relative path"):
        UnitScript(id="a", title="A", writes=[FileWrite(path=path, content="")])


def test_out_of_scope_writes_may_go_anywhere() -> None:
    unit = UnitScript(id="a", title="A", out_of_scope=[FileWrite(path="../x", content="")])
    assert unit.out_of_scope[0].path == "../x"


def test_unit_ids_are_unique_per_plan() -> None:
    with pytest.raises(ValidationError, match="repeat"):
        PlanScript(units=[UnitScript(id="a", title="A"), UnitScript(id="a", title="B")])
