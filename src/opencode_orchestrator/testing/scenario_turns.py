"""One turn of a scripted role, decided: the tool calls to make, then the answer.

A turn of OpenCode is several model calls: the model calls a tool, OpenCode
runs it and calls the model again with the result, until the model answers
(for a mission agent: by calling the structured-output tool). A
:class:`RoleTurn` is that whole sequence, decided once when the turn's first
request arrives; the player then hands out step *k* on the request that
already holds *k* tool calls after the turn's user message. Pure functions of
the :class:`~opencode_orchestrator.testing.scenario.Scenario`; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from opencode_orchestrator.mission.contracts import (
    ReviewVerdict,
    WorkerOutcome,
    WorkerReport,
)
from opencode_orchestrator.testing.scenario import FileWrite, Malformed, Scenario, UnitScript
from opencode_orchestrator.testing.scenario_roles import Role, TurnKind

__all__ = [
    "RoleTurn",
    "ToolStep",
    "malformed_plan_turn",
    "planner_turn",
    "restate_turn",
    "review_turn",
    "worker_turn",
]


@dataclass(frozen=True, slots=True)
class ToolStep:
    """One tool call of a turn, with OpenCode's argument names."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RoleTurn:
    """A whole turn: ``steps`` in order, then ``answer`` (structured) or ``text``."""

    role: Role
    kind: TurnKind
    unit: str | None = None
    steps: tuple[ToolStep, ...] = ()
    answer: dict[str, Any] | None = None
    text: str = ""


def _absolute(directory: str | None, path: str) -> str:
    # OpenCode's write/edit tools want absolute paths, as a model reads them off <env>.
    return path if directory is None else str(PurePosixPath(directory) / path)


def _writes(directory: str | None, writes: list[FileWrite]) -> list[ToolStep]:
    return [
        ToolStep("write", {"filePath": _absolute(directory, w.path), "content": w.content})
        for w in writes
    ]


def planner_turn(scenario: Scenario, iteration: int) -> RoleTurn:
    """The planner's plan for ``iteration``."""
    plan = scenario.plan(iteration).output()
    return RoleTurn(Role.PLANNER, TurnKind.PLAN, answer=plan.model_dump(mode="json"))


def malformed_plan_turn(how: Malformed) -> RoleTurn:
    """A planner turn that gets its structured output wrong, ``how``."""
    if how is Malformed.TEXT:
        return RoleTurn(
            Role.PLANNER, TurnKind.PLAN, text="Here is my plan: first the base, then the rest."
        )
    # The structured-output tool accepts it (OpenCode does not check the schema);
    # the orchestrator's own validation must catch it.
    bogus = {"summary": "a plan", "units": "one unit that builds everything"}
    return RoleTurn(Role.PLANNER, TurnKind.PLAN, answer=bogus)


def worker_turn(
    unit_id: str,
    script: UnitScript | None,
    kind: TurnKind,
    directory: str | None,
    *,
    first: bool,
) -> RoleTurn:
    """A worker's turn on ``unit_id``.

    Args:
        unit_id: the unit as the prompt names it (``i2-x`` in iteration 2).
        script: the unit's script (``None``: an unscripted unit, reported done untouched).
        kind: ``WORK``, ``FIX`` or ``REPORT``.
        directory: the working directory OpenCode gave the model.
        first: the first ``WORK`` turn of the unit (exploring and out-of-scope writes happen then).
    """
    if script is None:
        report = WorkerReport(outcome=WorkerOutcome.DONE, summary=f"unit {unit_id}: nothing to do")
        return RoleTurn(Role.WORKER, kind, unit_id, answer=report.model_dump(mode="json"))
    steps: list[ToolStep] = []
    changed: list[str] = []
    if kind is TurnKind.WORK:
        if first:
            steps += [ToolStep("bash", {"command": command}) for command in script.explore]
            steps += _writes(directory, script.out_of_scope)
        steps += _writes(directory, script.writes)
        steps += [
            ToolStep(
                "edit",
                {
                    "filePath": _absolute(directory, e.path),
                    "oldString": e.old,
                    "newString": e.new,
                },
            )
            for e in script.edits
        ]
        changed = script.written()
    elif kind is TurnKind.FIX:
        steps += _writes(directory, script.fixes)
        changed = [w.path for w in script.fixes]
    ran: list[str] = []
    if kind in (TurnKind.WORK, TurnKind.FIX) and script.run_checks:
        ran = list(script.checks)
        steps += [ToolStep("bash", {"command": command}) for command in ran]
    summary = f"unit {unit_id} ({kind.value}): " + (
        f"changed {', '.join(changed)}" if changed else "no files changed"
    )
    if ran:
        summary += f"; ran {', '.join(ran)}"
    report = WorkerReport(
        outcome=WorkerOutcome.DONE,
        summary=summary,
        files_changed=changed or script.written(),
    )
    return RoleTurn(Role.WORKER, kind, unit_id, tuple(steps), report.model_dump(mode="json"))


def review_turn(role: Role, kind: TurnKind, unit: str | None, verdict: ReviewVerdict) -> RoleTurn:
    """A reviewer's (or the master's) turn: the scripted verdict."""
    return RoleTurn(role, kind, unit, answer=verdict.model_dump(mode="json"))


def restate_turn(role: Role, unit: str | None, last: dict[str, Any] | None) -> RoleTurn:
    """Asked for its answer again: the session's last structured answer, unchanged."""
    if last is None:
        return RoleTurn(role, TurnKind.RESTATE, unit, text="I have no earlier answer to repeat.")
    return RoleTurn(role, TurnKind.RESTATE, unit, answer=last)
