"""report.html in a real headless Chromium: the chart's bars are painted, in their colours.

Not skipped without Chromium: ``./dev test`` installs Debian's ``chromium``,
and :func:`find_chromium` fails with that advice when it is missing.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from opencode_orchestrator.cli import main
from opencode_orchestrator.mission.report import write_report
from opencode_orchestrator.mission.report.palette import OUTCOMES
from opencode_orchestrator.mission.store import mission_dir, survey_missions
from opencode_orchestrator.testing.browser import colour_counts, find_chromium, screenshot
from tests.mission import journals

COLOURS = {name: colour for name, (colour, _) in OUTCOMES.items()}
LEGEND_SWATCH = 10 * 10
"""The most pixels of one colour the legend alone paints (a 10 px square)."""
SWATCH_PAINTED = LEGEND_SWATCH // 2
"""The fewest: its rounded corners blend into the page, its middle does not."""


def _legend_only(counts: dict[str, int], name: str) -> bool:
    """Whether ``name``'s colour is on the page as its legend swatch and nowhere else.

    The lower bound shows the page was painted at all: without it, a blank
    screenshot would pass for a chart without such bars.
    """
    return SWATCH_PAINTED <= counts[COLOURS[name]] <= LEGEND_SWATCH


def _demo_report(project: Path) -> Path:
    assert main(["demo", "--project", str(project), "--units", "8"]) == 0
    [mission] = survey_missions(project).missions
    return mission_dir(project, mission.mission_id) / "report.html"


def test_chromium_paints_the_chart_of_a_simulated_mission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    find_chromium()
    page = _demo_report(tmp_path)
    capsys.readouterr()
    png = screenshot(page, tmp_path / "report.png", width=1280, height=1400)
    counts = colour_counts(png, COLOURS.values())
    done, passed = counts[COLOURS["done"]], counts[COLOURS["pass"]]
    # Eight workers' and planner's bars, nine-plus reviews (at least 2 x 9 px each,
    # most far wider): thousands of pixels, not the legend's hundred.
    assert done > 20 * LEGEND_SWATCH, counts
    assert passed > 10 * LEGEND_SWATCH, counts
    # The demo's checks are real commands: each unit's and the mission's are drawn too.
    assert counts[COLOURS["check_pass"]] > 10 * LEGEND_SWATCH, counts
    assert done < 1280 * 1400 // 10, counts  # bars, not a page painted blue
    # Nothing failed, was aborted or left open in a sealed demo: only the legend's swatch.
    for name in ("error", "aborted", "open", "check_fail"):
        assert _legend_only(counts, name), (name, counts)


def test_a_mission_without_turns_paints_no_bars(tmp_path: Path) -> None:
    find_chromium()
    anyio.run(journals.planning_mission, tmp_path, "m1")
    directory = mission_dir(tmp_path, "m1")
    page = anyio.run(write_report, directory).html
    assert "<svg" in page.read_text()
    png = screenshot(page, tmp_path / "empty.png", width=1280, height=1400)
    counts = colour_counts(png, COLOURS.values())
    for name in COLOURS:
        assert _legend_only(counts, name), (name, counts)
