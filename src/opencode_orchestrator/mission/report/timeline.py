"""The report's chart as data: rows (lanes) and bars, from the summary's ``timeline``.

Rows, top to bottom: the planner, one row per unit (its worker's turns and
checks in the upper band, its reviewers' turns in the lower one), the
barrier (with the mission checks), the master review. Each bar is one turn
or check, coloured by how it ended (:data:`~.palette.OUTCOMES`).

A mission with more units than ``max_unit_rows`` gets one row per group of
consecutive units, whose overlapping bars of one colour are merged: the
chart stays a readable size (and the file a bounded one) at any scale, and
the tables below it still list every unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

from opencode_orchestrator.mission.checks import record_passed
from opencode_orchestrator.mission.report.evidence import check_outcome
from opencode_orchestrator.mission.report.palette import OUTCOMES

__all__ = ["MAX_UNIT_ROWS", "Bar", "Chart", "Row", "build_chart", "turn_outcome"]

MAX_UNIT_ROWS: Final = 150


@dataclass(frozen=True, slots=True)
class Row:
    """One lane of the chart."""

    label: str
    title: str
    group: str
    """``planner``, ``unit``, ``units`` (several, merged), ``barrier`` or ``master``."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One turn or check (or, in a merged row, several), in seconds since the start."""

    row: int
    band: str
    """``full`` (the row's height), ``top`` (a unit's worker) or ``bottom`` (its reviewers)."""
    start: float
    end: float
    outcome: str
    title: str


@dataclass(slots=True)
class Chart:
    """Everything the SVG renderer draws."""

    span: float
    """Seconds from the mission's creation to its last record."""
    rows: list[Row] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)
    state: str = ""
    final: bool = False
    units_per_row: int = 1


def turn_outcome(turn: dict[str, Any]) -> str:
    """The palette key of a timeline turn: how it ended (a review: its verdict)."""
    status = turn.get("status")
    if status is None:
        return "open"
    if status == "completed":
        verdict = turn.get("verdict")
        return "pass" if verdict == "pass" else "changes" if verdict == "fail" else "done"
    return "error" if status in ("error", "timeout") else "aborted"


def _check_outcome(check: dict[str, Any]) -> str:
    return "check_pass" if record_passed(check) else "check_fail"


def build_chart(summary: dict[str, Any], *, max_unit_rows: int = MAX_UNIT_ROWS) -> Chart:
    """The chart of ``summary`` (which must have a ``timeline``: see ``mission_summary``)."""
    timeline = summary["timeline"]
    span = float(timeline["end"])
    chart = Chart(
        span=span,
        phases=[p for p in timeline["phases"] if p["end"] > p["start"]],
        state=summary["state"],
        final=summary["final"],
    )
    units = [u["id"] for u in summary["units"]]
    per_row = max(1, math.ceil(len(units) / max(1, max_unit_rows)))
    chart.units_per_row = per_row
    chart.rows.append(Row("planner", "the planner's turns", "planner"))
    unit_row: dict[str, int] = {}
    for start in range(0, len(units), per_row):
        group = units[start : start + per_row]
        for unit in group:
            unit_row[unit] = len(chart.rows)
        if per_row == 1:
            chart.rows.append(
                Row(group[0], f"unit {group[0]}: worker above, reviewers below", "unit")
            )
        else:
            label = f"{group[0]} … {group[-1]}"
            chart.rows.append(Row(label, f"{len(group)} units, {label}", "units"))
    barrier = len(chart.rows)
    chart.rows.append(Row("barrier", "the barrier and the mission checks", "barrier"))
    master = len(chart.rows)
    chart.rows.append(Row("master review", "the master review's turns", "master"))

    for turn in timeline["turns"]:
        role, unit = turn["role"], turn["unit"]
        end = span if turn["end"] is None else float(turn["end"])
        if unit is None:
            row, band = (0, "full") if role == "planner" else (master, "full")
        elif unit in unit_row:
            row, band = unit_row[unit], "top" if role == "worker" else "bottom"
        else:
            continue
        chart.bars.append(
            Bar(row, band, float(turn["start"]), end, turn_outcome(turn), _turn_title(turn))
        )
    for phase in timeline["phases"]:
        if phase["state"] == "barrier":
            title = f"barrier (iteration {phase['iteration']})"
            chart.bars.append(Bar(barrier, "full", phase["start"], phase["end"], "barrier", title))
    for check in timeline["checks"]:
        unit = check["unit"]
        if unit is None:
            row, band = barrier, "full"
        elif unit in unit_row:
            row, band = unit_row[unit], "top"
        else:
            continue
        title = f"check `{check['command']}`: {check_outcome(check)}"
        chart.bars.append(
            Bar(row, band, check["start"], check["end"], _check_outcome(check), title)
        )
    if per_row > 1:
        # Gaps under about a pixel (the plot is ~880 px wide) vanish anyway.
        chart.bars = _merged(chart.bars, tolerance=span / 900)
    return chart


def _turn_title(turn: dict[str, Any]) -> str:
    who = f"{turn['unit']} " if turn["unit"] else ""
    kind = turn["kind"] + (" (restated)" if turn["restated"] else "")
    if turn["end"] is None:
        return f"{who}{kind}, attempt {turn['attempt']}: not ended"
    verdict = f", verdict {turn['verdict']}" if turn["verdict"] else ""
    return (
        f"{who}{kind}, attempt {turn['attempt']}: {turn['status']}{verdict}, "
        f"{turn['end'] - turn['start']:.2f} s, {turn['tokens']:,} tokens, ${turn['cost']:.4f}"
    )


def _merged(bars: list[Bar], *, tolerance: float) -> list[Bar]:
    """One bar per run of overlapping (or nearly touching) bars of a row, band and colour."""
    groups: dict[tuple[int, str, str], list[Bar]] = {}
    for bar in bars:
        groups.setdefault((bar.row, bar.band, bar.outcome), []).append(bar)
    out: list[Bar] = []
    for (row, band, outcome), members in groups.items():
        members.sort(key=lambda b: b.start)
        start, end, count = members[0].start, members[0].end, 0
        for bar in members:
            if bar.start > end + tolerance:
                out.append(Bar(row, band, start, end, outcome, _merged_title(count, outcome)))
                start, end, count = bar.start, bar.end, 0
            end = max(end, bar.end)
            count += 1
        out.append(Bar(row, band, start, end, outcome, _merged_title(count, outcome)))
    out.sort(key=lambda b: (b.row, b.start))
    return out


def _merged_title(count: int, outcome: str) -> str:
    return f"{count} merged: {OUTCOMES[outcome][1]}"
