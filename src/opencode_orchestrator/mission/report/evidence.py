"""Which units both pages detail, in which order, and how a racing strategy reads.

``report.md`` and ``report.html`` list each unit's evidence the same way: every
unit with a problem, then units verified without one, up to
:data:`MAX_DETAILED_UNITS` in all. A racing strategy (``race_of`` set) follows
the unit it races for. A strategy that lost the race ends CANCELLED by design
(the seal does not count strategies): that is no problem, and the pages say
plainly what it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from opencode_orchestrator.mission.checks import record_passed

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


def check_outcome(check: Mapping[str, Any]) -> str:
    """How a check ended, as every page says it: ``exit 1``, ``timed out after 5 s``.

    A check that timed out was killed and has no exit code: it is said so with
    how long it ran (its ``duration``, or its timeline ``start`` to ``end``).
    A check with no exit code that did not time out was killed some other way.
    """
    if check.get("timed_out"):
        seconds = _seconds(check)
        return "timed out" if seconds is None else f"timed out after {seconds:g} s"
    code = check.get("exit_code")
    return "killed, no exit code" if code is None else f"exit {code}"


def _seconds(check: Mapping[str, Any]) -> float | None:
    duration = check.get("duration")
    if duration is None and check.get("start") is not None and check.get("end") is not None:
        duration = check["end"] - check["start"]
    if not isinstance(duration, int | float) or duration <= 0:
        return None
    return round(float(duration), 1 if duration < 100 else None)


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
