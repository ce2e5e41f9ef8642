"""The mission as one JSON-ready document: what ``report.json`` and ``status --json`` hold.

:func:`mission_summary` depends only on what the journal says (no clock, no
paths of the machine that reads it), so the same log always gives the same
document. From a model alone it has the state, totals, units, checks,
verdicts and the budget; given the journal's history too
(:class:`~opencode_orchestrator.mission.report.facts.JournalFacts`) it adds
the ``timeline``, ``usage`` per role, and each unit's ``check_runs`` (every
run, where ``checks`` keeps the newest of each command), ``files_changed``,
``reviews`` and ``usage``. Times in the timeline are seconds since the
mission was created, to the millisecond.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, TypeVar

from opencode_orchestrator.mission.figures import caps_of
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.report.facts import ROLES, CheckSpan, JournalFacts, TurnSpan

__all__ = ["UNIT_ROLES", "WALL_NOTE", "ending_text", "mission_summary"]

UNIT_ROLES: Final = ("worker", "shadow_reviewer", "reviewer")
"""The roles whose turns belong to a unit."""
WALL_NOTE: Final = (
    "Wall time runs from the mission's creation to its last record. For a mission that "
    "was stopped and resumed it includes the time it was stopped, which its budget does "
    "not count (the journal does not record when a run resumed)."
)
"""What the budget's ``wall_seconds.used`` is, for the pages to say."""

_ENDINGS: Final = {
    "sealed": "Sealed: every unit verified, the mission checks passed and the master review "
    "passed.",
    "failed": "Failed: the mission could not reach a seal.",
    "blocked": "Blocked: a review round changed nothing (the same findings on the same diff).",
    "budget_exceeded": "Stopped: a budget cap was reached.",
    "cancelled": "Cancelled on request.",
}


def mission_summary(model: MissionModel, facts: JournalFacts | None = None) -> dict[str, Any]:
    """The mission as one JSON-ready document: state, totals, units, evidence.

    Raises:
        ValueError: ``model`` does not keep finished units' evidence (the
            engine's does not: rebuild it with ``load_mission``).
    """
    if not model.keep_evidence:
        raise ValueError("the model keeps no evidence of finished units: replay the journal")
    turns = _by_unit(facts.turns if facts is not None else ())
    checks = _by_unit(facts.checks if facts is not None else ())
    units = [
        _unit(unit, facts, turns.get(unit.id, []), checks.get(unit.id, []))
        for unit in model.units.values()
    ]
    # Racing strategies (and their sub-units) are not units of the plan: the seal
    # does not count them (the losers end CANCELLED by design), nor do the totals.
    planned = model.planned_units()
    states: dict[str, int] = {}
    for unit in planned:
        states[unit.state.value] = states.get(unit.state.value, 0) + 1
    elapsed = max(0.0, model.last_ts - model.created_at)
    summary: dict[str, Any] = {
        "mission_id": model.mission_id,
        "goal": model.goal,
        "project": model.project,
        "state": model.state.value,
        "final": model.state.final,
        "reason": model.reason,
        "iterations": model.iteration,
        "created_at": model.created_at,
        "updated_at": model.last_ts,
        "elapsed": elapsed,
        "totals": {
            "units": len(planned),
            "verified": states.get("verified", 0),
            "states": states,
            "strategies": len(model.units) - len(planned),
            "attempts": sum(u.attempt for u in model.units.values()),
            "review_rounds": sum(u.rounds for u in model.units.values()),
            "turns": model.turns_ended,
            "open_turns": len(model.turns),
            "sessions": len(model.sessions),
            "tokens": model.tokens,
            "cost": model.cost,
        },
        "budget": _budget(model, elapsed),
        "plans": list(model.plan_summaries),
        "checks": [_check(c) for c in model.check_results],
        "master_verdict": model.master_verdicts[-1] if model.master_verdicts else None,
        "sealed_evidence": model.sealed_evidence,
        "units": units,
    }
    if facts is not None:
        summary["usage"] = _usage(facts.turns, ROLES)
        summary["timeline"] = _timeline(facts, model)
    return summary


def ending_text(summary: dict[str, Any]) -> str:
    """Why the mission ended (or that it has not), in a sentence or two."""
    state, reason = summary["state"], summary.get("reason") or ""
    if not summary["final"]:
        return (
            f"Not ended: the mission is {state} as far as its journal knows (still running, "
            "or stopped and resumable)." + (f" Last reason: {reason}." if reason else "")
        )
    head = _ENDINGS.get(state, f"Ended {state}.")
    return f"{head} Reason recorded: {reason}" if reason else head


_Span = TypeVar("_Span", TurnSpan, CheckSpan)


def _by_unit(spans: Iterable[_Span]) -> dict[str | None, list[_Span]]:
    """``spans`` grouped by unit, in their order: one pass, however many units."""
    grouped: dict[str | None, list[_Span]] = {}
    for span in spans:
        grouped.setdefault(span.unit, []).append(span)
    return grouped


def _unit(
    unit: UnitModel, facts: JournalFacts | None, turns: list[TurnSpan], checks: list[CheckSpan]
) -> dict[str, Any]:
    ended = unit.ended_at is not None and unit.started_at is not None
    out: dict[str, Any] = {
        "id": unit.id,
        "title": unit.spec.title,
        "state": unit.state.value,
        "reason": unit.reason,
        "iteration": unit.iteration,
        "parent": unit.parent,
        "race_of": unit.race_of,
        "strategy": unit.strategy,
        "depth": unit.depth,
        "attempts": unit.attempt,
        "rounds": unit.rounds,
        "turns": unit.turns,
        "sessions": dict(unit.sessions),
        "tokens": unit.tokens,
        "cost": unit.cost,
        "started_at": unit.started_at,
        "ended_at": unit.ended_at,
        # Only an ended unit has a duration: anything else would depend on
        # when the summary was taken, and the summary must not.
        "duration": (unit.ended_at or 0.0) - (unit.started_at or 0.0) if ended else None,
        "failures": list(unit.failures),
        "verdict": unit.verdict,
        "checks": [_check(c) for c in unit.checks],
    }
    if facts is not None:
        out["check_runs"] = [
            {
                "command": c.command,
                "exit_code": c.exit_code,
                "timed_out": c.timed_out,
                "duration": round(c.end - c.start, 3),
                "output_tail": c.output_tail,
            }
            for c in checks
        ]
        out["files_changed"] = list(facts.files.get(unit.id, ()))
        out["reviews"] = list(facts.reviews.get(unit.id, ()))
        out["usage"] = _usage(turns, UNIT_ROLES)
    return out


def _check(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "command": result["command"],
        "exit_code": result.get("exit_code"),
        "timed_out": bool(result.get("timed_out", False)),
        "duration": result.get("duration"),
        "output_tail": result.get("output_tail", ""),
    }


def _budget(model: MissionModel, elapsed: float) -> dict[str, Any]:
    caps = caps_of(model)
    return {
        "tokens": {"used": model.tokens, "cap": caps.tokens},
        "cost": {"used": model.cost, "cap": caps.cost},
        "wall_seconds": {"used": elapsed, "cap": caps.wall_seconds},
    }


def _usage(turns: Iterable[TurnSpan], roles: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        role: {"turns": 0, "tokens": 0, "cost": 0.0} for role in roles
    }
    for turn in turns:
        entry = out.get(turn.role)
        if entry is not None and turn.end is not None:
            entry["turns"] += 1
            entry["tokens"] += turn.tokens
            entry["cost"] += turn.cost
    return out


def _timeline(facts: JournalFacts, model: MissionModel) -> dict[str, Any]:
    origin, last = model.created_at, model.last_ts

    def at(ts: float) -> float:
        return round(max(0.0, ts - origin), 3)

    phases: list[dict[str, Any]] = []
    for index, mark in enumerate(facts.phases):
        following = facts.phases[index + 1].ts if index + 1 < len(facts.phases) else last
        phases.append(
            {
                "state": mark.state,
                "iteration": mark.iteration,
                "start": at(mark.ts),
                "end": at(following),
            }
        )
    return {
        "end": at(last),
        "phases": phases,
        "turns": [
            {
                "unit": t.unit,
                "role": t.role,
                "kind": t.kind,
                "attempt": t.attempt,
                "restated": t.restated,
                "start": at(t.start),
                "end": None if t.end is None else at(t.end),
                "status": t.status,
                "verdict": t.verdict,
                "tokens": t.tokens,
                "cost": round(t.cost, 6),
                "error": t.error,
            }
            for t in facts.turns
        ],
        "checks": [
            {
                "unit": c.unit,
                "command": c.command,
                "exit_code": c.exit_code,
                "timed_out": c.timed_out,
                "start": at(c.start),
                "end": at(c.end),
            }
            for c in facts.checks
        ],
    }
