"""The scenario player, driven through OpenCode-shaped conversations without OpenCode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opencode_orchestrator.mission import prompts
from opencode_orchestrator.mission.contracts import (
    Finding,
    PlanOutput,
    ReviewVerdict,
    Severity,
    UnitSpec,
    WorkerReport,
)
from opencode_orchestrator.mission.turns import _RESTATE_TEXT
from opencode_orchestrator.testing.fake_llm_turns import STRUCTURED_OUTPUT_TOOL, TITLE, TurnPlan
from opencode_orchestrator.testing.scenario import (
    FileEdit,
    FileWrite,
    Malformed,
    PlanScript,
    Scenario,
    UnitScript,
)
from opencode_orchestrator.testing.scenario_player import ScenarioPlayer
from opencode_orchestrator.testing.scenario_roles import Role, TurnKind
from opencode_orchestrator.testing.script import Fault, ScriptDirective, render_directive
from tests.testing.scenario_helpers import PROJECT, Conversation

FAIL = ReviewVerdict.model_validate(
    {
        "verdict": "fail",
        "findings": [{"severity": "major", "message": "b is wrong", "file": "b.py"}],
    }
)

A = UnitScript(
    id="a",
    title="Base",
    files=["a.py"],
    checks=["test -f a.py"],
    writes=[FileWrite(path="a.py", content="A = 1\n")],
    edits=[FileEdit(path="a.py", old="1", new="2")],
    out_of_scope=[FileWrite(path="other.py", content="nope\n")],
    explore=["ls"],
)
B = UnitScript(
    id="b",
    title="Top",
    files=["b.py"],
    depends_on=["a"],
    writes=[FileWrite(path="b.py", content="bad\n")],
    fixes=[FileWrite(path="b.py", content="good\n")],
    reviews=[FAIL],
    shadow_reviews=[FAIL],
    run_checks=False,
    rate_limit=2,
)


def _scenario(**changes: Any) -> Scenario:
    fields: dict[str, Any] = {"goal": "build a and b", "plans": [PlanScript(units=[A, B])]}
    return Scenario(**(fields | changes))


def _spec(script: UnitScript) -> UnitSpec:
    return script.spec()


def _work(script: UnitScript, attempt: int = 1) -> str:
    return prompts.render_worker_prompt(
        _spec(script),
        goal="g",
        knowledge="",
        dependencies={},
        depth=0,
        max_depth=3,
        attempt=attempt,
    )


def _review(script: UnitScript, *, shadow: bool) -> str:
    return prompts.render_reviewer_prompt(
        _spec(script),
        goal="g",
        knowledge="",
        report=None if shadow else "done",
        files_changed=script.files,
        shadow=shadow,
        checks=[],
    )


def _plan_prompt(problems: list[str] | None = None) -> str:
    return prompts.render_planner_prompt(
        "g", knowledge="", max_units=10, mission_checks=[], problems=problems or []
    )


def _tools(plans: list[TurnPlan]) -> list[tuple[str, dict[str, Any]]]:
    return [(p.tool_call.name, p.tool_call.arguments) for p in plans if p.tool_call is not None]


def _answer(plans: list[TurnPlan]) -> dict[str, Any]:
    last = plans[-1].tool_call
    assert last is not None
    assert last.name == STRUCTURED_OUTPUT_TOOL
    return last.arguments


def test_the_planner_answers_the_scripted_plan() -> None:
    player = ScenarioPlayer(_scenario())
    plans = Conversation(player, "planner", "ses_p").turn(_plan_prompt())
    plan = PlanOutput.model_validate(_answer(plans))
    assert [u.id for u in plan.units] == ["a", "b"]
    assert player.played(Role.PLANNER)[0].kind is TurnKind.PLAN


def test_malformed_plans_come_first_then_the_plan() -> None:
    player = ScenarioPlayer(_scenario(malformed_plans=2))
    planner = Conversation(player, "planner", "ses_p")
    for _ in range(2):
        bad = _answer(planner.turn(_plan_prompt(["the answer is not a plan"])))
        assert "units" in bad
        assert not isinstance(bad["units"], list)
    PlanOutput.model_validate(_answer(planner.turn(_plan_prompt(["again"]))))


def test_a_malformed_plan_in_prose_calls_no_tool() -> None:
    player = ScenarioPlayer(_scenario(malformed_plans=1, malformed_as=Malformed.TEXT))
    plans = Conversation(player, "planner", "ses_p").turn(_plan_prompt())
    assert plans[-1].tool_call is None
    assert "plan" in plans[-1].text


def test_each_iteration_gets_its_own_plan() -> None:
    later = PlanScript(units=[UnitScript(id="c", title="C")])
    player = ScenarioPlayer(_scenario(plans=[PlanScript(units=[A, B]), later]))
    Conversation(player, "planner", "ses_p1").turn(_plan_prompt())
    second = Conversation(player, "planner", "ses_p2").turn(_plan_prompt())
    assert [u["id"] for u in _answer(second)["units"]] == ["c"]


def test_a_worker_writes_edits_runs_checks_then_reports() -> None:
    player = ScenarioPlayer(_scenario())
    worker = Conversation(player, "worker", "ses_wa")
    plans = worker.turn(_work(A))
    assert _tools(plans)[:-1] == [
        ("bash", {"command": "ls"}),
        ("write", {"filePath": f"{PROJECT}/other.py", "content": "nope\n"}),
        ("write", {"filePath": f"{PROJECT}/a.py", "content": "A = 1\n"}),
        ("edit", {"filePath": f"{PROJECT}/a.py", "oldString": "1", "newString": "2"}),
        ("bash", {"command": "test -f a.py"}),
    ]
    report = WorkerReport.model_validate(_answer(plans))
    assert report.outcome == "done"
    assert report.files_changed == ["a.py"]
    played = player.played(Role.WORKER, unit="a")[0]
    assert played.results == ["ok"] * 5
    assert played.answered is not None


def test_exploring_and_out_of_scope_writes_happen_on_the_first_attempt_only() -> None:
    player = ScenarioPlayer(_scenario())
    Conversation(player, "worker", "ses_1").turn(_work(A))
    again = Conversation(player, "worker", "ses_2").turn(_work(A, attempt=2))
    assert all(args.get("filePath") != f"{PROJECT}/other.py" for _, args in _tools(again))
    assert ("bash", {"command": "ls"}) not in _tools(again)


def test_a_failed_review_brings_a_fix_and_then_a_pass() -> None:
    player = ScenarioPlayer(_scenario())
    worker = Conversation(player, "worker", "ses_wb")
    reviewer = Conversation(player, "reviewer", "ses_rb")
    worker.turn(_work(B))  # rate-limited twice, then the work
    assert _answer(reviewer.turn(_review(B, shadow=True)))["verdict"] == "fail"
    assert _answer(reviewer.turn(_review(B, shadow=False)))["verdict"] == "fail"
    fix = prompts.render_fix_prompt(_spec(B), findings=FAIL.findings, checks=[])
    plans = worker.turn(fix)
    assert _tools(plans)[0] == ("write", {"filePath": f"{PROJECT}/b.py", "content": "good\n"})
    assert _answer(plans)["files_changed"] == ["b.py"]
    assert _answer(reviewer.turn(_review(B, shadow=False)))["verdict"] == "pass"
    rounds = [t.number for t in player.played(Role.REVIEWER, TurnKind.REVIEW, "b")]
    assert rounds == [1, 2]
    assert [t.kind for t in player.played(Role.WORKER, unit="b")] == [TurnKind.WORK, TurnKind.FIX]


def test_rate_limits_answer_429_then_the_same_step() -> None:
    player = ScenarioPlayer(_scenario())
    plans = Conversation(player, "worker", "ses_wb").turn(_work(B))
    assert [p.fault for p in plans[:3]] == [Fault.RATE_LIMIT, Fault.RATE_LIMIT, None]
    assert _tools(plans)[0][0] == "write"
    assert len(player.played(Role.WORKER)) == 1  # the retries are one turn
    assert [r.answer for r in player.requests][:3] == ["429", "429", "tool:write"]


def test_a_retried_call_does_not_count_its_tool_results_twice() -> None:
    player = ScenarioPlayer(_scenario())
    worker = Conversation(player, "worker", "ses_wa")
    worker.messages.append({"role": "user", "content": _work(A)})
    plan = worker.call()
    assert plan.tool_call is not None
    call = plan.tool_call
    function = {"name": call.name, "arguments": "{}"}
    worker.messages += [
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "function": function}]},
        {"role": "tool", "tool_call_id": "c1", "content": "done once"},
    ]
    first, again = worker.call(), worker.call()  # OpenCode retries the same call
    assert first.tool_call is not None
    assert again.tool_call is not None
    assert first.tool_call.arguments == again.tool_call.arguments
    assert player.played(Role.WORKER)[0].results == ["done once"]


def test_the_master_verdict_per_iteration() -> None:
    player = ScenarioPlayer(_scenario(master=[FAIL]))
    master = prompts.render_master_prompt("g", knowledge="", units=[], diff="", checks=[])
    assert _answer(Conversation(player, "master", "ses_m1").turn(master))["verdict"] == "fail"
    assert _answer(Conversation(player, "master", "ses_m2").turn(master))["verdict"] == "pass"


def test_a_restatement_repeats_the_last_answer() -> None:
    player = ScenarioPlayer(_scenario())
    worker = Conversation(player, "worker", "ses_wa")
    first = _answer(worker.turn(_work(A)))
    plans = worker.turn(f"<unit>{_spec(A).model_dump_json()}</unit>\n\n{_RESTATE_TEXT}")
    assert len(plans) == 1
    assert _answer(plans) == first
    assert player.played(kind=TurnKind.RESTATE)[0].unit == "a"


def test_report_turns_just_report() -> None:
    player = ScenarioPlayer(_scenario())
    plans = Conversation(player, "worker", "ses_wa").turn(prompts.render_nudge_prompt(_spec(A)))
    assert len(plans) == 1
    assert _answer(plans)["outcome"] == "done"


def test_requests_are_recorded_with_session_parent_and_unit() -> None:
    player = ScenarioPlayer(_scenario())
    Conversation(player, "reviewer", "ses_ra", parent="ses_root").turn(_review(A, shadow=True))
    (request,) = player.requests
    assert (request.role, request.kind, request.unit) == (Role.REVIEWER, TurnKind.SHADOW, "a")
    assert (request.session, request.parent, request.answer) == ("ses_ra", "ses_root", "structured")


def test_unscripted_units_are_done_and_noted() -> None:
    player = ScenarioPlayer(_scenario())
    stranger = UnitScript(id="zz", title="Z")
    assert (
        _answer(Conversation(player, "worker", "ses_z").turn(_work(stranger)))["outcome"] == "done"
    )
    assert player.unexpected == ["unit zz is not in the scenario"]


def test_without_the_structured_output_tool_the_answer_is_text() -> None:
    player = ScenarioPlayer(_scenario())
    conversation = Conversation(player, "reviewer", "ses_r", structured=False)
    plans = conversation.turn(_review(A, shadow=False))
    assert plans[-1].tool_call is None


def test_other_requests_follow_script_directives() -> None:
    player = ScenarioPlayer(_scenario())
    call: Callable[[str], TurnPlan] = lambda system: player(  # noqa: E731
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": "hi\n" + render_directive(ScriptDirective(reply="yo"))},
            ]
        },
        {},
    )
    assert call("You are a title generator.").text == TITLE
    assert call("You are opencode.").text == "yo"
    assert [r.answer for r in player.requests] == ["script", "script"]


def test_a_fix_without_scripted_fixes_reruns_the_checks_and_reports() -> None:
    player = ScenarioPlayer(_scenario())
    finding = Finding(severity=Severity.MINOR, message="m")
    fix = prompts.render_fix_prompt(_spec(A), findings=[finding], checks=[])
    plans = Conversation(player, "worker", "w").turn(fix)
    assert _tools(plans)[:-1] == [("bash", {"command": "test -f a.py"})]
    report = WorkerReport.model_validate(_answer(plans))
    assert report.files_changed == ["a.py"]
