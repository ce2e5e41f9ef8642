"""The mission report: one summary document, written as JSON and Markdown, atomically."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest

from opencode_orchestrator.mission.report import mission_summary, render_markdown, write_report
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import load_mission, mission_dir
from tests.mission import journals

pytestmark = pytest.mark.anyio


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


async def test_the_report_is_written_as_json_and_markdown(tmp_path: Path) -> None:
    await journals.sealed_mission(tmp_path, "m1")
    model = load_mission(tmp_path, "m1")
    directory = mission_dir(tmp_path, "m1")
    json_path, md_path = await write_report(model, directory)
    assert (json_path, md_path) == (directory / "report.json", directory / "report.md")
    assert orjson.loads(json_path.read_bytes()) == mission_summary(model)
    markdown = md_path.read_text()
    assert markdown.startswith("# Mission m1: SEALED\n")
    assert "| u1 | unit u1 | verified | 2 | 1 | 1 |" in markdown
    assert "- attempt 1: worker gave up" in markdown
    assert "- finding (minor): u1: naming" in markdown
    assert "## Seal evidence" in markdown
    assert stat.S_IMODE(json_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in directory.iterdir()) == ["report.json", "report.md", "wal"]


async def test_a_new_report_replaces_the_old_one_whole(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    directory = mission_dir(tmp_path, "m1")
    json_path, _ = await write_report(load_mission(tmp_path, "m1"), directory)
    assert orjson.loads(json_path.read_bytes())["state"] == "running"
    journal = await journals.open_journal(tmp_path, "m1")
    try:
        await journals.finish(journal, MissionState.CANCELLED, "stop")
    finally:
        await journal.close()
    await write_report(load_mission(tmp_path, "m1"), directory)
    assert orjson.loads(json_path.read_bytes())["state"] == "cancelled"
    assert not list(directory.glob("*.tmp"))


def test_markdown_escapes_table_cells() -> None:
    summary = {
        "mission_id": "m",
        "goal": "g",
        "state": "failed",
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
    assert "### u1: a | b c (skipped)" in markdown
    assert "- dependency failed" in markdown
