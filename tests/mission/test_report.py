"""The mission report: one summary document, written as JSON, Markdown and HTML, atomically."""

from __future__ import annotations

import errno
import os
import stat
from html.parser import HTMLParser
from pathlib import Path

import anyio.from_thread
import orjson
import pytest
from markdown_it import MarkdownIt

from opencode_orchestrator.mission.report import (
    ReportPaths,
    mission_summary,
    render_markdown,
    replay,
    write_report,
)
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import load_mission, mission_dir, mission_journal
from tests.mission import journals, reportjournals

pytestmark = pytest.mark.anyio

REPORT_FILES = ["report.html", "report.json", "report.md", "wal"]
"""A mission's directory after its report was written: nothing else, no temporary file."""


async def test_the_summary_has_the_mission_its_units_and_its_evidence(tmp_path: Path) -> None:
    await journals.sealed_mission(tmp_path, "m1", goal="ship it", created_at=1000.0)
    summary = mission_summary(load_mission(tmp_path, "m1"))
    assert summary["mission_id"] == "m1"
    assert (summary["goal"], summary["state"], summary["final"]) == ("ship it", "sealed", True)
    assert summary["iterations"] == 1
    assert summary["totals"] == {
        "units": 2,
        "verified": 2,
        "states": {"verified": 2},
        "strategies": 0,
        "attempts": 3,
        "review_rounds": 2,
        "turns": 3,
        "open_turns": 0,
        "sessions": 3,
        "tokens": 1500,
        "cost": pytest.approx(0.015),
    }
    u1 = summary["units"][0]
    assert u1["id"] == "u1"
    assert (u1["state"], u1["attempts"], u1["rounds"]) == ("verified", 2, 1)
    assert u1["sessions"] == {"worker": "ses_u1_2"}
    assert u1["failures"] == ["attempt 1: worker gave up"]
    assert u1["verdict"]["findings"][0]["message"] == "u1: naming"
    assert u1["checks"] == [
        {"command": "true", "exit_code": 0, "timed_out": False, "duration": 0.01, "output_tail": ""}
    ]
    assert u1["duration"] == pytest.approx(u1["ended_at"] - u1["started_at"])
    assert summary["checks"][0]["command"] == "pytest -q"
    assert summary["master_verdict"]["verdict"] == "pass"
    assert summary["sealed_evidence"] == {"all_units_verified": True}


async def test_a_unit_still_running_has_no_duration(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    summary = mission_summary(load_mission(tmp_path, "m1"))
    assert summary["state"] == MissionState.RUNNING.value
    assert summary["final"] is False
    u2 = summary["units"][1]
    assert (u2["state"], u2["duration"], u2["ended_at"]) == ("dispatched", None, None)
    assert summary["totals"]["open_turns"] == 1


async def test_the_report_is_written_as_json_markdown_and_html(tmp_path: Path) -> None:
    await journals.sealed_mission(tmp_path, "m1")
    directory = mission_dir(tmp_path, "m1")
    paths = await write_report(directory)
    assert paths == (directory / "report.json", directory / "report.md", directory / "report.html")
    model, facts = replay(mission_journal(directory))
    assert orjson.loads(paths.json.read_bytes()) == mission_summary(model, facts)
    markdown = paths.markdown.read_text()
    assert markdown.startswith("# Mission m1: SEALED\n")
    assert "| u1 | unit u1 | verified | 2 | 1 | 1 |" in markdown
    assert "- attempt 1: worker gave up" in markdown
    assert "- finding (minor): u1: naming" in markdown
    assert "## Seal evidence" in markdown
    assert "Source: none: the project is not a git repository" in markdown
    assert paths.html.read_text().startswith("<!doctype html>")
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in directory.iterdir()) == REPORT_FILES


async def test_a_new_report_replaces_the_old_one_whole(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    directory = mission_dir(tmp_path, "m1")
    json_path = (await write_report(directory)).json
    assert orjson.loads(json_path.read_bytes())["state"] == "running"
    journal = await journals.open_journal(tmp_path, "m1")
    try:
        await journals.finish(journal, MissionState.CANCELLED, "stop")
    finally:
        await journal.close()
    await write_report(directory)
    assert orjson.loads(json_path.read_bytes())["state"] == "cancelled"
    assert not list(directory.glob("*.tmp"))


async def test_two_writers_at_once_both_publish_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await journals.sealed_mission(tmp_path, "m1")
    directory = mission_dir(tmp_path, "m1")
    rename = os.replace
    second: list[ReportPaths] = []
    started: list[bool] = []

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        if not started and Path(target).name == "report.json":
            # The first writer has written its report.json but not renamed it
            # yet: a second writer does all its work now.
            started.append(True)
            second.append(anyio.from_thread.run(write_report, directory))
        rename(source, target)

    monkeypatch.setattr(os, "replace", replace)
    first = await write_report(directory)
    assert second == [first]
    model, facts = replay(mission_journal(directory))
    assert orjson.loads(first.json.read_bytes()) == mission_summary(model, facts)
    assert sorted(p.name for p in directory.iterdir()) == REPORT_FILES


async def test_a_report_that_cannot_be_written_leaves_the_old_one_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    directory = mission_dir(tmp_path, "m1")
    old = (await write_report(directory)).json.read_bytes()
    journal = await journals.open_journal(tmp_path, "m1")
    try:
        await journals.finish(journal, MissionState.CANCELLED, "stop")
    finally:
        await journal.close()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device"):
        await write_report(directory)
    monkeypatch.undo()
    assert (directory / "report.json").read_bytes() == old
    assert sorted(p.name for p in directory.iterdir()) == REPORT_FILES


def test_markdown_escapes_table_cells() -> None:
    summary = {
        "mission_id": "m",
        "goal": "g",
        "state": "failed",
        "final": True,
        "reason": "",
        "iterations": 1,
        "created_at": 0.0,
        "updated_at": 0.0,
        "elapsed": 0.0,
        "totals": {
            "verified": 0,
            "units": 1,
            "attempts": 0,
            "review_rounds": 0,
            "turns": 0,
            "sessions": 0,
            "tokens": 0,
            "cost": 0.0,
        },
        "units": [
            {
                "id": "u1",
                "title": "a | b\nc",
                "state": "skipped",
                "reason": "dependency failed",
                "attempts": 0,
                "rounds": 0,
                "sessions": {},
                "tokens": 0,
                "cost": 0.0,
                "duration": None,
                "failures": [],
                "verdict": None,
                "checks": [],
            }
        ],
        "checks": [],
        "master_verdict": None,
        "sealed_evidence": None,
    }
    markdown = render_markdown(summary)
    assert "| u1 | a \\| b c | skipped |" in markdown
    assert "### u1: a \\| b c (skipped)" in markdown
    assert "- dependency failed" in markdown


MARKDOWN_HOSTILE = (
    "![x](https://evil.example/a.png) <img src=https://evil.example/b.png> "
    "[link](https://evil.example/c) ``two`` `one` *em* _em_ &amp; | ~~del~~"
)


class _Page(HTMLParser):
    """What a Markdown viewer makes of the report: its tags, attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.code: list[str] = []
        self._in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)
        self._in_code += tag == "code"

    def handle_endtag(self, tag: str) -> None:
        self._in_code -= tag == "code"

    def handle_data(self, data: str) -> None:
        (self.code if self._in_code else self.text).append(data)


def _viewed(markdown: str) -> _Page:
    viewer = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    page = _Page()
    page.feed(viewer.render(markdown))
    page.close()
    return page


async def test_markdown_shows_hostile_text_and_fetches_nothing(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(
        tmp_path,
        "m1",
        goal=f"goal {MARKDOWN_HOSTILE}\n# not a heading",
        title=f"title {MARKDOWN_HOSTILE}",
        finding=f"finding {MARKDOWN_HOSTILE}",
        file_name="src/``odd` name.py",
    )
    model, facts = replay(mission_journal(mission_dir(tmp_path, "m1")))
    summary = mission_summary(model, facts)
    summary["sealed_evidence"] = {"note": "```\n# not a heading either"}
    page = _viewed(render_markdown(summary))
    # Only the report's own markup: no image, link, raw tag, emphasis or extra heading.
    assert not {"img", "a", "em", "del", "script"} & set(page.tags)
    assert not [name for name, _ in page.attributes if name in ("src", "href")]
    assert page.tags.count("h1") == 1
    assert page.tags.count("strong") == 2  # **Goal:** and **Why it ended:**
    text = "".join(page.text)
    for prefix in ("goal ", "title ", "finding "):
        assert prefix + MARKDOWN_HOSTILE in text
    assert "goal " + MARKDOWN_HOSTILE + " # not a heading" in text
    # Backticks in a file name: still one code span, the name whole.
    assert "src/``odd` name.py" in page.code
    assert '"note": "```\\n# not a heading either"' in "".join(page.code)
