"""Writing a mission's report files into its directory, atomically, off the event loop.

::

    .opencode/orchestrator/missions/<id>/report.json   the summary, with the timeline
    .opencode/orchestrator/missions/<id>/report.md     for people, in a terminal
    .opencode/orchestrator/missions/<id>/report.html   for people, in a browser

Everything comes from the journal in that directory, replayed in a worker
thread (the engine's own model lets finished units' evidence go), so
``report.json`` is what ``status --json`` prints for the same log. The two
pages add the project's diff stats, taken from git at that moment
(:mod:`~opencode_orchestrator.mission.report.diffstat`). Each file is
published with :func:`~opencode_orchestrator.private_files.replace_private_file`:
whole, 0600, under a temporary name of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, NamedTuple

import anyio.to_thread
import orjson

from opencode_orchestrator.mission.report.diffstat import diff_stats
from opencode_orchestrator.mission.report.html import render_html
from opencode_orchestrator.mission.report.markdown import render_markdown
from opencode_orchestrator.mission.report.replay import replay
from opencode_orchestrator.mission.report.summary import mission_summary
from opencode_orchestrator.mission.store import mission_journal
from opencode_orchestrator.private_files import replace_private_file

__all__ = ["REPORT_HTML", "REPORT_JSON", "REPORT_MD", "ReportPaths", "load_summary", "write_report"]

REPORT_JSON: Final = "report.json"
REPORT_MD: Final = "report.md"
REPORT_HTML: Final = "report.html"


class ReportPaths(NamedTuple):
    """Where the report's three files were written."""

    json: Path
    markdown: Path
    html: Path


async def write_report(directory: Path) -> ReportPaths:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``directory``.

    ``directory`` is the mission's (:func:`~opencode_orchestrator.mission.store.mission_dir`);
    its journal is replayed and the files rendered in worker threads, git's
    figures taken by subprocesses the event loop waits for. Each file is
    replaced whole: a reader (or a crash) sees the old one or the new one,
    and two writers at once each publish whole files.

    Raises:
        MissionNotFoundError: no mission's journal in ``directory``.
        WalError: the journal could not be read back.
        OSError: a file could not be written.
    """
    summary = await anyio.to_thread.run_sync(load_summary, directory)
    # Not in report.json: git's figures change with the project, the journal's do not.
    diff = await diff_stats(Path(summary["project"]))
    return await anyio.to_thread.run_sync(_write, directory, summary, diff)


def load_summary(directory: Path) -> dict[str, Any]:
    """The mission in ``directory`` as ``report.json`` holds it (``status --json`` too).

    The summary with its history, from the journal alone.

    Blocking: call it from a worker thread in async code.

    Raises:
        MissionNotFoundError, WalError: as :func:`write_report`.
    """
    return mission_summary(*replay(mission_journal(directory)))


def _write(directory: Path, summary: dict[str, Any], diff: dict[str, Any]) -> ReportPaths:
    paths = ReportPaths(directory / REPORT_JSON, directory / REPORT_MD, directory / REPORT_HTML)
    replace_private_file(paths.json, orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    replace_private_file(paths.markdown, render_markdown(summary, diff).encode())
    replace_private_file(paths.html, render_html(summary, diff).encode())
    return paths
