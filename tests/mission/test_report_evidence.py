"""The report's evidence: usage per role and unit, reviews, files, budget, diff stats, ending."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from opencode_orchestrator.mission.report import (
    mission_summary,
    render_html,
    render_markdown,
    replay,
    write_report,
)
from opencode_orchestrator.mission.report.diffstat import diff_stats
from opencode_orchestrator.mission.report.html import MAX_DIFF_ROWS as HTML_DIFF_ROWS
from opencode_orchestrator.mission.report.markdown import MAX_DIFF_ROWS
from opencode_orchestrator.mission.report.summary import ending_text
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import load_mission, mission_dir, mission_journal
from tests.mission import journals, reportjournals

pytestmark = pytest.mark.anyio


async def _summary(project: Path, mission_id: str = "m1") -> dict[str, Any]:
    return mission_summary(*replay(mission_journal(mission_dir(project, mission_id))))


async def test_tokens_and_cost_per_role_add_up_to_the_totals(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    summary = await _summary(tmp_path)
    usage = summary["usage"]
    assert list(usage) == ["planner", "worker", "shadow_reviewer", "reviewer", "master"]
    assert usage["planner"] == {"turns": 1, "tokens": 300, "cost": pytest.approx(0.003)}
    assert usage["worker"] == {"turns": 4, "tokens": 2110, "cost": pytest.approx(0.021)}
    assert usage["shadow_reviewer"] == {"turns": 1, "tokens": 50, "cost": pytest.approx(0.0005)}
    assert usage["reviewer"] == {"turns": 3, "tokens": 450, "cost": pytest.approx(0.0045)}
    assert usage["master"] == {"turns": 1, "tokens": 90, "cost": pytest.approx(0.09)}
    totals = summary["totals"]
    assert sum(u["tokens"] for u in usage.values()) == totals["tokens"] == 3000
    assert sum(u["cost"] for u in usage.values()) == pytest.approx(totals["cost"])
    assert sum(u["turns"] for u in usage.values()) == totals["turns"]


async def test_each_unit_has_its_usage_reviews_and_files(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    u1, u2 = (await _summary(tmp_path))["units"]
    assert u1["usage"] == {
        "worker": {"turns": 2, "tokens": 1400, "cost": pytest.approx(0.014)},
        "shadow_reviewer": {"turns": 1, "tokens": 50, "cost": pytest.approx(0.0005)},
        "reviewer": {"turns": 2, "tokens": 350, "cost": pytest.approx(0.0035)},
    }
    assert sum(role["tokens"] for role in u1["usage"].values()) == u1["tokens"]
    assert u1["files_changed"] == ["src/u1.py", "src/u1_extra.py"]
    assert [(r["round"], r["shadow"], r["verdict"]) for r in u1["reviews"]] == [
        (1, True, "pass"),
        (1, False, "fail"),
        (2, False, "pass"),
    ]
    assert u1["reviews"][1]["findings"] == [{"severity": "major", "message": "u1: a name is wrong"}]
    # The failed attempt's error turn counts for the worker, its files do not exist.
    assert u2["usage"]["worker"]["turns"] == 2
    assert u2["files_changed"] == ["src/u2.py"]
    assert u2["failures"] == ["attempt 1: worker failed"]
    assert [c["exit_code"] for c in u2["checks"]] == [0]  # the unit keeps the newest run


async def test_the_budget_is_shown_against_its_caps(tmp_path: Path) -> None:
    budget = {"max_tokens": 10_000, "max_cost": 1.0}
    await reportjournals.reviewed_mission(tmp_path, "m1", budget=budget)
    summary = await _summary(tmp_path)
    assert summary["budget"]["tokens"] == {"used": 3000, "cap": 10_000}
    assert summary["budget"]["cost"]["cap"] == 1.0
    assert summary["budget"]["wall_seconds"] == {"used": summary["elapsed"], "cap": None}
    paths = await write_report(mission_dir(tmp_path, "m1"))
    markdown = paths.markdown.read_text()
    assert "| tokens | 3,000 | 10,000 | 30% |" in markdown
    assert "| wall time\\* |" in markdown
    assert "includes the time it was stopped, which its budget does not count" in markdown
    assert "| no cap | - |" in markdown
    assert "| worker | 4 | 2,110 | $0.0210 |" in markdown


async def test_the_summary_without_history_has_no_timeline(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    summary = mission_summary(load_mission(tmp_path, "m1"))
    assert "timeline" not in summary
    assert "usage" not in summary
    assert "files_changed" not in summary["units"][0]
    full = await _summary(tmp_path)
    assert {k: v for k, v in full.items() if k not in ("timeline", "usage", "units")} == {
        k: v for k, v in summary.items() if k != "units"
    }


async def test_why_it_ended_is_said_for_every_end(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    sealed = ending_text(await _summary(tmp_path))
    assert sealed.startswith("Sealed: every unit verified")
    assert sealed.endswith("Reason recorded: every seal condition")
    for state, text in [
        (MissionState.BUDGET_EXCEEDED, "Stopped: a budget cap was reached."),
        (MissionState.CANCELLED, "Cancelled on request."),
        (MissionState.BLOCKED, "Blocked:"),
        (MissionState.FAILED, "Failed:"),
    ]:
        mission_id = f"m_{state.value}"
        await journals.unfinished_mission(tmp_path, mission_id)
        running = ending_text(await _summary(tmp_path, mission_id))
        assert running.startswith("Not ended: the mission is running")
        journal = await journals.open_journal(tmp_path, mission_id)
        try:
            await journals.finish(journal, state, "the cause")
        finally:
            await journal.close()
        ended = ending_text(await _summary(tmp_path, mission_id))
        assert ended.startswith(text)
        assert ended.endswith("Reason recorded: the cause")


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


async def test_diff_stats_come_from_git_and_say_so(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "u1.py").write_text("a\nb\nc\n")
    (project / "src" / "gone.py").write_text("x\ny\n")
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "commit", "-qm", "base")
    (project / "src" / "u1.py").write_text("a\nB\nc\nd\n")
    (project / "src" / "gone.py").unlink()
    (project / "src" / "u1_extra.py").write_text("new\nfile")
    (project / "blob.bin").write_bytes(b"\0\1\2")
    # u1's worker reports blob.bin (and src/u1_extra.py); the journal goes under .opencode/.
    await reportjournals.reviewed_mission(project, "m1", file_name="blob.bin")
    diff = await diff_stats(project)
    assert diff["source"].startswith("`git diff --numstat` of the working tree against HEAD ")
    assert "includes any change made outside the mission" in diff["source"]
    assert diff["files"] == [
        {"path": "blob.bin", "added": None, "deleted": 0},
        {"path": "src/gone.py", "added": 0, "deleted": 2},
        {"path": "src/u1.py", "added": 2, "deleted": 1},
        {"path": "src/u1_extra.py", "added": 2, "deleted": 0},
    ]
    assert (diff["added"], diff["deleted"]) == (4, 3)
    paths = await write_report(mission_dir(project, "m1"))
    # Not in report.json (what status --json prints): git's figures change, the journal not.
    assert "diff" not in orjson.loads(paths.json.read_bytes())
    assert "includes any change made outside the mission" in paths.html.read_text()
    markdown = paths.markdown.read_text()
    assert "- changed `blob.bin` (+binary -0)" in markdown
    assert "- changed `src/u1_extra.py` (+2 -0)" in markdown
    assert "| src/u1.py | 2 | 1 |" in markdown
    assert "| src/gone.py | 0 | 2 |" in markdown
    assert "| blob.bin | binary | 0 |" in markdown
    assert "4 file(s), +4 -3" in markdown


async def test_no_diff_stats_outside_a_git_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wherever the temporary directory is, git must not find a repository above it.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert await diff_stats(tmp_path) == {
        "source": "none: the project is not a git repository",
        "files": [],
        "more": 0,
        "uncounted": 0,
        "added": 0,
        "deleted": 0,
    }
    missing = await diff_stats(tmp_path / "missing")
    assert missing["source"].startswith("none: the project directory")


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
async def test_a_repository_without_a_commit_diffs_against_the_empty_tree(
    tmp_path: Path, object_format: str
) -> None:
    # The empty tree's id depends on the repository's hash: git says which it is.
    _git(tmp_path, "init", "-q", f"--object-format={object_format}")
    (tmp_path / "a.txt").write_text("1\n2\n")
    _git(tmp_path, "add", "a.txt")
    stats = await diff_stats(tmp_path)
    assert "an empty tree (no commit yet)" in stats["source"]
    assert stats["files"] == [{"path": "a.txt", "added": 2, "deleted": 0}]


async def test_nested_repositories_and_orchestrator_files_are_no_changes(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "commit", "-q", "--allow-empty", "-m", "base")
    nested = tmp_path / "vendor" / "lib"
    nested.mkdir(parents=True)
    _git(nested, "init", "-q")
    (nested / "x.c").write_text("int x;\n")
    (tmp_path / ".opencode" / "agent").mkdir(parents=True)
    (tmp_path / ".opencode" / "agent" / "notes.md").write_text("mine\n")
    (tmp_path / "new.txt").write_text("one\n")
    stats = await diff_stats(tmp_path)
    # git lists the nested repository as "vendor/lib/": not a file, and not binary.
    assert stats["files"] == [{"path": "new.txt", "added": 1, "deleted": 0}]


async def test_a_long_list_is_cut_but_every_file_is_counted(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "tracked.txt").write_text("a\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "base")
    (tmp_path / "tracked.txt").write_text("a\nb\nc\n")
    for name in ("a", "b", "c", "d", "e"):
        (tmp_path / f"{name}.new").write_text(f"{name}\n" * 10)
    stats = await diff_stats(tmp_path, max_files=3)
    assert [f["path"] for f in stats["files"]] == ["a.new", "b.new", "c.new"]
    # Six files changed: three listed, three more; the two unlisted new files are
    # not read, the tracked one's figures come with git's diff.
    assert (stats["more"], stats["uncounted"]) == (3, 2)
    assert (stats["added"], stats["deleted"]) == (3 * 10 + 2, 0)


async def test_a_cut_diff_list_says_how_many_files_are_not_listed(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    summary = await _summary(tmp_path)
    listed = max(MAX_DIFF_ROWS, HTML_DIFF_ROWS) + 5
    files = [{"path": f"f{i:03d}", "added": 1, "deleted": 0} for i in range(listed)]
    diff = {"source": "git", "files": files, "more": 7, "uncounted": 2, "added": 99, "deleted": 0}
    markdown = render_markdown(summary, diff)
    total = len(files) + 7
    assert f"{total} file(s), +99 -0 (not counting the lines of 2 untracked files" in markdown
    assert f"({total - MAX_DIFF_ROWS} more files changed, not listed)" in markdown
    html = render_html(summary, diff)
    assert f"<p>{total} file(s), +99 -0" in html
    assert f"{total - HTML_DIFF_ROWS} more files changed, not listed." in html
    # Git's figures are never in report.json: no page may send the reader there for them.
    for page in (markdown, html):
        assert "files in report.json" not in page


async def test_a_cap_passed_shows_by_how_much_and_only_the_bar_stops(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1", budget={"max_tokens": 2000})
    summary = await _summary(tmp_path)
    assert summary["budget"]["tokens"] == {"used": 3000, "cap": 2000}
    html = render_html(summary)
    assert '<span class="bar"><i style="width:100%"></i></span> 150%' in html
    assert "| tokens | 3,000 | 2,000 | 150% |" in render_markdown(summary)


async def test_racing_strategies_are_not_units_and_a_loser_is_no_problem(tmp_path: Path) -> None:
    await reportjournals.raced_mission(tmp_path, "m1")
    summary = await _summary(tmp_path)
    totals = summary["totals"]
    # As the seal counts: the two units of the plan, both verified; the strategies apart.
    assert (totals["units"], totals["verified"], totals["strategies"]) == (2, 2, 2)
    assert totals["states"] == {"verified": 2}
    assert {u["id"]: u["race_of"] for u in summary["units"]} == {
        "u1": None,
        "u2": None,
        "u1.r1": "u1",
        "u1.r2": "u1",
    }
    paths = await write_report(mission_dir(tmp_path, "m1"))
    markdown = paths.markdown.read_text()
    assert "- units verified: 2 of 2 (and 2 in racing strategies)" in markdown
    # Each strategy right after the unit it raced for, the loser said plainly.
    headings = [line for line in markdown.splitlines() if line.startswith("### ")]
    assert headings == [
        "### u1: raced (verified)",
        "### u1.r1: raced, approach 1 (cancelled; race strategy of u1, lost)",
        "### u1.r2: raced, approach 2 (verified; race strategy of u1)",
        "### u2: plain (verified)",
    ]
    html = paths.html.read_text()
    assert "<b>2 / 2</b><span>units verified</span>" in html
    assert "<details open>" not in html  # nothing went wrong: nothing is opened
    assert "race strategy of u1, lost" in html
