"""Which units both pages detail, in which order, and how a racing strategy reads.

``report.md`` and ``report.html`` list each unit's evidence the same way: every
unit with a problem, then units verified without one, up to
:data:`MAX_DETAILED_UNITS` in all. A racing strategy (``race_of`` set) follows
the unit it races for. A strategy that lost the race ends CANCELLED by design
(the seal does not count strategies): that is no problem, and the pages say
plainly what it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from opencode_orchestrator.mission.checks import check_outcome, record_passed

__all__ = [
    "MAX_DETAILED_UNITS",
    "check_outcome",
    "detailed_units",
    "has_problem",
    "in_race_order",
    "lost_race",
    "race_note",
]

MAX_DETAILED_UNITS: Final = 200


def lost_race(unit: dict[str, Any]) -> bool:
    """Whether ``unit`` is (part of) a racing strategy another one beat (or that was stopped)."""
    racing = unit.get("strategy") is not None or unit.get("race_of") is not None
    return racing and unit["state"] == "cancelled"


def has_problem(unit: dict[str, Any]) -> bool:
    """A failure, a finding, a failed check, or an end other than verified.

    A strategy that lost its race has none for ending cancelled.
    """
    findings = (unit["verdict"] or {}).get("findings")
    failed = not all(record_passed(check) for check in unit["checks"])
    ended_badly = unit["state"] != "verified" and not lost_race(unit)
    return bool(unit["failures"] or findings or failed or ended_badly)


def race_note(unit: dict[str, Any]) -> str:
    """``""``, or what ``unit`` is in a race: ``race strategy of u1`` (``, lost``)."""
    raced = unit.get("race_of")
    if raced is None:
        return ""
    return f"race strategy of {raced}" + (", lost" if lost_race(unit) else "")


def in_race_order(units: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``units`` in their order, each racing strategy right after the unit it races for."""
    units = list(units)
    strategies: dict[str, list[dict[str, Any]]] = {}
    known = {unit["id"] for unit in units}
    for unit in units:
        raced = unit.get("race_of")
        if isinstance(raced, str) and raced in known:
            strategies.setdefault(raced, []).append(unit)
    out: list[dict[str, Any]] = []
    for unit in units:
        if unit.get("race_of") not in known:
            out.append(unit)
            out.extend(strategies.get(unit["id"], ()))
    return out


def detailed_units(units: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The units whose evidence a page shows, in race order, and how many are left out.

    Every unit with a problem; then the others, in order, up to
    :data:`MAX_DETAILED_UNITS` in all. Those left out had nothing to report.
    """
    problems = {unit["id"] for unit in units if has_problem(unit)}
    room = max(0, MAX_DETAILED_UNITS - len(problems))
    rest = [unit["id"] for unit in units if unit["id"] not in problems][:room]
    shown = problems | set(rest)
    return [unit for unit in in_race_order(units) if unit["id"] in shown], len(units) - len(shown)
