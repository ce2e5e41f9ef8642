"""A mission's report: what it did, when, what it cost, and the evidence it ended on.

:func:`mission_summary` turns a :class:`~opencode_orchestrator.mission.model.MissionModel`
(with ``keep_evidence``, as :func:`~opencode_orchestrator.mission.store.load_mission`
rebuilds it) into one JSON-ready document (``status --json`` prints it);
:func:`load_summary` replays a mission's journal into that document with its
history (timeline, usage per role, every check run and review round): what
``report.json`` holds. :func:`write_report` writes ``report.json``,
``report.md`` and the self-contained ``report.html`` (those two with the
project's diff stats) into the mission's directory.

Modules: :mod:`.facts` (the journal's history the model does not keep),
:mod:`.replay` (one pass over the journal into both), :mod:`.summary`,
:mod:`.timeline` (the chart as rows and bars), :mod:`.svg`, :mod:`.markdown`,
:mod:`.html`, :mod:`.diffstat` (git's figures), :mod:`.writer`.
"""

from __future__ import annotations

from opencode_orchestrator.mission.report.html import render_html
from opencode_orchestrator.mission.report.markdown import render_markdown
from opencode_orchestrator.mission.report.replay import replay
from opencode_orchestrator.mission.report.summary import mission_summary
from opencode_orchestrator.mission.report.writer import (
    REPORT_HTML,
    REPORT_JSON,
    REPORT_MD,
    ReportPaths,
    load_summary,
    write_report,
)

__all__ = [
    "REPORT_HTML",
    "REPORT_JSON",
    "REPORT_MD",
    "ReportPaths",
    "load_summary",
    "mission_summary",
    "render_html",
    "render_markdown",
    "replay",
    "write_report",
]
