"""Reading roles and turns from requests shaped like OpenCode's, with the engine's own prompts."""

from __future__ import annotations

import pytest

from opencode_orchestrator.mission import prompts
from opencode_orchestrator.mission.contracts import Finding, Severity, UnitSpec
from opencode_orchestrator.mission.turns import _RESTATE_TEXT
from opencode_orchestrator.testing.scenario_roles import (
    Role,
    TurnKind,
    calls_since_user,
    classify_turn,
    detect_role,
    last_structured,
    last_tool_result,
    results_since_user,
    system_text,
    working_directory,
)
from tests.testing.scenario_helpers import PROJECT, opencode_system

UNIT = UnitSpec(id="a", title="A", files=["a.py"], checks=["test -f a.py"])


@pytest.mark.parametrize("role", list(Role))
def test_the_role_is_read_from_the_prompt_opencode_sends(role: Role) -> None:
    assert detect_role(opencode_system(role.value)) is role


def test_a_marker_names_the_role_too() -> None:
    assert detect_role("<!-- prompt: master v2 -->\nanything") is Role.MASTER


def test_other_agents_have_no_role() -> None:
    assert detect_role("You are opencode, an interactive CLI tool.") is None
    assert detect_role("<!-- prompt: poet v1 -->") is None


def test_working_directory_comes_from_the_env_block() -> None:
    assert working_directory(opencode_system("worker")) == PROJECT
    assert working_directory("no env here") is None


def _worker_prompts() -> dict[str, str]:
    return {
        "work": prompts.render_worker_prompt(
            UNIT, goal="g", knowledge="", dependencies={}, depth=0, max_depth=3, attempt=1
        ),
        "retry": prompts.render_worker_prompt(
            UNIT,
            goal="g",
            knowledge="k",
            dependencies={"b": "done"},
            depth=3,
            max_depth=3,
            attempt=2,
        ),
        "fix": prompts.render_fix_prompt(
            UNIT, findings=[Finding(severity=Severity.MAJOR, message="m")], checks=[]
        ),
        "recover": prompts.render_recover_prompt(UNIT, error="boom"),
        "nudge": prompts.render_nudge_prompt(UNIT),
        "continue": prompts.render_continue_prompt(UNIT),
        "subunits": prompts.render_subunits_done_prompt(UNIT, results={"a.x": "ok"}),
    }


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("work", TurnKind.WORK),
        ("retry", TurnKind.WORK),
        ("fix", TurnKind.FIX),
        ("recover", TurnKind.REPORT),
        ("nudge", TurnKind.REPORT),
        ("continue", TurnKind.REPORT),
        ("subunits", TurnKind.REPORT),
    ],
)
def test_worker_turns_are_told_apart(name: str, kind: TurnKind) -> None:
    assert classify_turn(Role.WORKER, _worker_prompts()[name]) is kind


@pytest.mark.parametrize(("shadow", "kind"), [(True, TurnKind.SHADOW), (False, TurnKind.REVIEW)])
def test_shadow_and_final_reviews_are_told_apart(shadow: bool, kind: TurnKind) -> None:
    text = prompts.render_reviewer_prompt(
        UNIT,
        goal="g",
        knowledge="",
        report=None if shadow else "done",
        files_changed=["a.py"],
        shadow=shadow,
        checks=[],
    )
    assert classify_turn(Role.REVIEWER, text) is kind


def test_planner_and_master_turns() -> None:
    plan = prompts.render_planner_prompt("g", knowledge="", max_units=9, mission_checks=[])
    again = prompts.render_planner_prompt(
        "g", knowledge="", max_units=9, mission_checks=["pytest"], problems=["cycle: a -> a"]
    )
    master = prompts.render_master_prompt(
        "g", knowledge="", units=[(UNIT, "s")], diff="", checks=[]
    )
    assert classify_turn(Role.PLANNER, plan) is TurnKind.PLAN
    assert classify_turn(Role.PLANNER, again) is TurnKind.PLAN
    assert classify_turn(Role.MASTER, master) is TurnKind.MASTER


@pytest.mark.parametrize("role", list(Role))
def test_a_restatement_request_is_none_of_the_templates(role: Role) -> None:
    text = f"<unit>{UNIT.model_dump_json()}</unit>\n\n{_RESTATE_TEXT}"
    assert classify_turn(role, text) is TurnKind.RESTATE


def test_conversation_state_since_the_newest_user_message() -> None:
    def call(name: str, args: str) -> dict[str, object]:
        return {"id": "c", "type": "function", "function": {"name": name, "arguments": args}}

    messages: list[dict[str, object]] = [
        {"role": "system", "content": "s1"},
        {"role": "system", "content": [{"type": "text", "text": "s2"}]},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "", "tool_calls": [call("StructuredOutput", '{"x":1}')]},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
        {"role": "assistant", "content": "", "tool_calls": [call("write", '{"filePath":"/p"}')]},
        {"role": "tool", "tool_call_id": "c", "content": "Wrote file successfully."},
        {"role": "assistant", "content": "", "tool_calls": [call("bash", "not json")]},
    ]
    assert system_text(messages) == "s1\ns2"
    assert calls_since_user(messages) == [("write", {"filePath": "/p"}), ("bash", {})]
    assert last_structured(messages) == {"x": 1}
    assert last_tool_result(messages) is None
    assert last_tool_result(messages[:-1]) == "Wrote file successfully."
    assert results_since_user(messages) == ["Wrote file successfully."]
    assert results_since_user(messages[:5]) == []
