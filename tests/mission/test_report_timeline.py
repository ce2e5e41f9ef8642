"""The report's history: turns, phases, checks and verdicts from a journal; the chart's rows."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.report import mission_summary, replay
from opencode_orchestrator.mission.report.facts import JournalFacts
from opencode_orchestrator.mission.report.svg import WIDTH, render_svg, tick_step
from opencode_orchestrator.mission.report.timeline import build_chart, turn_outcome
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import mission_dir, mission_journal
from tests.mission import journals, reportjournals

pytestmark = pytest.mark.anyio


async def _summary(project: Path, mission_id: str = "m1") -> dict[str, Any]:
    return mission_summary(*replay(mission_journal(mission_dir(project, mission_id))))


async def test_every_turn_is_on_the_timeline_in_order_with_its_outcome(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    timeline = (await _summary(tmp_path))["timeline"]
    turns = timeline["turns"]
    assert [(t["unit"], t["kind"], t["attempt"]) for t in turns] == [
        (None, "plan", 1),
        ("u1", "shadow_review", 1),
        ("u1", "work", 1),
        ("u1", "review", 1),
        ("u1", "fix", 1),
        ("u1", "review", 1),
        ("u2", "work", 1),
        ("u2", "work", 2),
        ("u2", "review", 2),
        (None, "master_review", 1),
    ]
    assert [t["role"] for t in turns] == [
        "planner",
        "shadow_reviewer",
        "worker",
        "reviewer",
        "worker",
        "reviewer",
        "worker",
        "worker",
        "reviewer",
        "master",
    ]
    # Each review turn carries the verdict recorded after it.
    assert [t["verdict"] for t in turns] == [
        None,
        "pass",
        None,
        "fail",
        None,
        "pass",
        None,
        None,
        "pass",
        "pass",
    ]
    assert [turn_outcome(t) for t in turns] == [
        "done",
        "pass",
        "done",
        "changes",
        "done",
        "pass",
        "error",
        "done",
        "pass",
        "pass",
    ]
    for turn in turns:
        assert 0.0 <= turn["start"] <= turn["end"] <= timeline["end"]
    starts = [t["start"] for t in turns]
    assert starts == sorted(starts)
    assert turns[6]["error"] == "turn error"
    assert (turns[2]["tokens"], turns[2]["cost"]) == (1000, 0.01)


async def test_phases_run_from_creation_to_the_final_state(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    timeline = (await _summary(tmp_path))["timeline"]
    phases = timeline["phases"]
    assert [p["state"] for p in phases] == [
        "planning",
        "running",
        "barrier",
        "integration_review",
        "sealed",
    ]
    assert phases[0]["start"] == 0.0
    for before, after in itertools.pairwise(phases):
        assert before["end"] == after["start"]
    assert phases[-1]["start"] == phases[-1]["end"] == timeline["end"]


async def test_checks_are_on_the_timeline_with_their_unit(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    checks = (await _summary(tmp_path))["timeline"]["checks"]
    assert [(c["unit"], c["command"], c["exit_code"]) for c in checks] == [
        ("u1", "pytest tests/u1", 0),
        ("u2", "pytest tests/u2", 1),
        ("u2", "pytest tests/u2", 0),
        (None, "make test", 0),
    ]
    for c in checks:
        assert 0.0 <= c["start"] <= c["end"]
    _, facts = replay(mission_journal(mission_dir(tmp_path, "m1")))
    assert [c.end - c.start for c in facts.checks] == [pytest.approx(0.5)] * 4
    # u2's two runs were journaled together, after the second: the first ran before it.
    assert facts.checks[1].end == pytest.approx(facts.checks[2].start)


def test_a_rounds_checks_run_back_to_back_ending_at_its_last_record() -> None:
    facts = JournalFacts()

    def check(unit: str | None, command: str, duration: float, ts: float) -> None:
        data = {"unit": unit, "command": command, "exit_code": 0, "duration": duration}
        facts.apply(RecordType.CHECK_RESULT, data, ts)

    # u1's round, lint (2 s) then test (3 s), journaled once both ended; u2's in between.
    check("u1", "lint", 2.0, 100.00)
    check("u2", "build", 1.0, 100.01)
    check("u1", "test", 3.0, 100.02)
    # u1's next round starts after its next state, however soon.
    facts.apply(RecordType.UNIT_STATE, {"unit": "u1", "state": "reviewing"}, 100.03)
    check("u1", "test", 0.5, 100.04)
    # The mission's checks; run again after a resume, 50 s on: a round of their own.
    facts.apply(RecordType.MISSION_STATE, {"state": "integration_review"}, 200.0)
    check(None, "make", 4.0, 210.0)
    check(None, "make", 4.0, 260.0)
    assert [(c.unit, c.command, round(c.start, 3), round(c.end, 3)) for c in facts.checks] == [
        ("u1", "lint", 95.02, 97.02),
        ("u2", "build", 99.01, 100.01),
        ("u1", "test", 97.02, 100.02),
        ("u1", "test", 99.54, 100.04),
        (None, "make", 206.0, 210.0),
        (None, "make", 256.0, 260.0),
    ]


def test_replay_says_when_there_is_no_journal(tmp_path: Path) -> None:
    with pytest.raises(MissionNotFoundError, match="no mission journal there"):
        replay(tmp_path / "missing")
    with pytest.raises(MissionNotFoundError, match="no mission has been recorded there"):
        replay(tmp_path)


async def test_an_unended_turn_stays_open_to_the_last_record(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    summary = await _summary(tmp_path)
    open_turns = [t for t in summary["timeline"]["turns"] if t["end"] is None]
    assert [(t["unit"], t["kind"]) for t in open_turns] == [("u2", "work")]
    assert turn_outcome(open_turns[0]) == "open"
    chart = build_chart(summary)
    bar = next(b for b in chart.bars if b.outcome == "open")
    assert bar.end == chart.span
    assert "not ended" in bar.title


async def test_the_chart_has_a_lane_per_role_and_unit(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    chart = build_chart(await _summary(tmp_path))
    assert [r.label for r in chart.rows] == ["planner", "u1", "u2", "barrier", "master review"]
    by_row: dict[str, list[tuple[str, str]]] = {}
    for bar in chart.bars:
        by_row.setdefault(chart.rows[bar.row].label, []).append((bar.band, bar.outcome))
    assert by_row["planner"] == [("full", "done")]
    assert by_row["u1"] == [
        ("bottom", "pass"),
        ("top", "done"),
        ("bottom", "changes"),
        ("top", "done"),
        ("bottom", "pass"),
        ("top", "check_pass"),
    ]
    assert by_row["u2"] == [
        ("top", "error"),
        ("top", "done"),
        ("bottom", "pass"),
        ("top", "check_fail"),
        ("top", "check_pass"),
    ]
    assert by_row["barrier"] == [("full", "barrier"), ("full", "check_pass")]
    assert by_row["master review"] == [("full", "pass")]
    assert chart.final
    assert chart.state == "sealed"


async def test_many_units_share_rows_and_their_bars_merge(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    summary = await _summary(tmp_path)
    chart = build_chart(summary, max_unit_rows=1)
    assert chart.units_per_row == 2
    assert [r.label for r in chart.rows] == ["planner", "u1 … u2", "barrier", "master review"]
    assert chart.rows[1].group == "units"
    # Bars of one colour in a row's band that overlap become one, which says how many.
    unmerged = build_chart(summary)
    counts: dict[tuple[str, str], int] = {}
    for bar in unmerged.bars:
        if unmerged.rows[bar.row].group == "unit":
            counts[(bar.band, bar.outcome)] = counts.get((bar.band, bar.outcome), 0) + 1
    merged: dict[tuple[str, str], int] = {}
    for bar in chart.bars:
        if bar.row == 1:
            key = (bar.band, bar.outcome)
            merged[key] = merged.get(key, 0) + int(bar.title.split(" merged: ")[0])
    assert merged == counts


def test_ticks_are_round_numbers() -> None:
    assert tick_step(1.0) == 0.2
    assert tick_step(0.05) == 0.01
    assert tick_step(40.0) == 5.0
    assert tick_step(100.0) == 20.0
    assert tick_step(3600.0) == 600.0
    assert tick_step(5 * 86400.0) == 86400.0


async def test_the_svg_draws_one_rect_per_bar_with_its_colour(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    chart = build_chart(await _summary(tmp_path))
    svg = render_svg(chart)
    assert svg.startswith("<svg ")
    assert svg.endswith("</svg>")
    assert svg.count('fill="#3b82f6"') == 4  # planner, u1 work + fix, u2 attempt 2
    assert svg.count('fill="#f59e0b"') == 1  # the review that asked for changes
    assert svg.count('fill="#ef4444"') == 1  # u2's failed attempt
    assert svg.count('fill="#be123c"') == 1  # u2's failed check
    assert "SEALED" in svg
    assert ">0.0" in svg or ">0 s" in svg  # the time axis starts at zero


async def test_the_final_state_is_labelled_whole_inside_the_chart(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    journal = await journals.open_journal(tmp_path, "m1")
    try:
        await journals.finish(journal, MissionState.BUDGET_EXCEEDED, "max_tokens reached")
    finally:
        await journal.close()
    svg = render_svg(build_chart(await _summary(tmp_path)))
    line = re.search(r'<line x1="([\d.]+)" y1="\d+" x2="\1"[^>]*stroke-width="2"/>', svg)
    label = re.search(r'<text x="([\d.]+)"[^>]*>BUDGET_EXCEEDED</text>', svg)
    assert line is not None, svg
    assert label is not None, svg
    # Its end at the line, its start well inside the chart: never cut at the edge.
    assert 'text-anchor="end"' in label.group()
    assert float(label.group(1)) == pytest.approx(float(line.group(1)) - 4)
    assert float(line.group(1)) < WIDTH
    # Fifteen bold capitals, at most ~9 px each, clear of the lanes' labels (150 px).
    assert float(label.group(1)) - 9 * len("BUDGET_EXCEEDED") > 150
