"""A mission's report: what it did, what it cost, and the evidence it ended on.

:func:`mission_summary` turns a :class:`MissionModel` into one JSON-ready
document (``status --json`` prints it; ``report.json`` holds it), and
:func:`write_report` writes that document and a readable Markdown rendering
of it into the mission's directory::

    .opencode/orchestrator/missions/<id>/report.json
    .opencode/orchestrator/missions/<id>/report.md

The summary depends only on the model (no clock, no paths of the machine
that reads it), so the report written when a run ended and a later
``status --json`` of the same log are the same document. It needs a model
that keeps finished units' evidence (``keep_evidence``), as
:func:`~opencode_orchestrator.mission.store.load_mission` rebuilds it; the
engine's own model lets that evidence go, so :func:`write_report` replays the
journal for it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson

from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.store import mission_journal, read_journal
from opencode_orchestrator.wal.paths import fsync_dir, write_private_file

__all__ = ["REPORT_JSON", "REPORT_MD", "mission_summary", "render_markdown", "write_report"]

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def mission_summary(model: MissionModel) -> dict[str, Any]:
    """The mission as one JSON-ready document: state, totals, units, evidence.

    Raises:
        ValueError: ``model`` does not keep finished units' evidence (the
            engine's does not: rebuild it with ``load_mission``).
    """
    if not model.keep_evidence:
        raise ValueError("the model keeps no evidence of finished units: replay the journal")
    units = [_unit(unit) for unit in model.units.values()]
    counts = model.counts()
    return {
        "mission_id": model.mission_id,
        "goal": model.goal,
        "project": model.project,
        "state": model.state.value,
        "final": model.state.final,
        "reason": model.reason,
        "iterations": model.iteration,
        "created_at": model.created_at,
        "updated_at": model.last_ts,
        "elapsed": max(0.0, model.last_ts - model.created_at),
        "totals": {
            "units": len(units),
            "verified": counts.get("verified", 0),
            "states": counts,
            "attempts": sum(u.attempt for u in model.units.values()),
            "review_rounds": sum(u.rounds for u in model.units.values()),
            "turns": model.turns_ended,
            "open_turns": len(model.turns),
            "sessions": len(model.sessions),
            "tokens": model.tokens,
            "cost": model.cost,
        },
        "plans": list(model.plan_summaries),
        "checks": [_check(c) for c in model.check_results],
        "master_verdict": model.master_verdicts[-1] if model.master_verdicts else None,
        "sealed_evidence": model.sealed_evidence,
        "units": units,
    }


def _unit(unit: UnitModel) -> dict[str, Any]:
    ended = unit.ended_at is not None and unit.started_at is not None
    return {
        "id": unit.id,
        "title": unit.spec.title,
        "state": unit.state.value,
        "reason": unit.reason,
        "iteration": unit.iteration,
        "parent": unit.parent,
        "depth": unit.depth,
        "attempts": unit.attempt,
        "rounds": unit.rounds,
        "turns": unit.turns,
        "sessions": dict(unit.sessions),
        "tokens": unit.tokens,
        "cost": unit.cost,
        "started_at": unit.started_at,
        "ended_at": unit.ended_at,
        # Only an ended unit has a duration: anything else would depend on
        # when the summary was taken, and the summary must not.
        "duration": (unit.ended_at or 0.0) - (unit.started_at or 0.0) if ended else None,
        "failures": list(unit.failures),
        "verdict": unit.verdict,
        "checks": [_check(c) for c in unit.checks],
    }


def _check(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "command": result["command"],
        "exit_code": result.get("exit_code"),
        "timed_out": bool(result.get("timed_out", False)),
        "duration": result.get("duration"),
        "output_tail": result.get("output_tail", ""),
    }


async def write_report(model: MissionModel, directory: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``directory`` (the mission's), atomically.

    The summary is taken on the caller's task, where the model is not moving;
    rendering and the file system work run in a worker thread. A model without
    finished units' evidence (the engine's) is not summarised: the journal in
    ``directory`` (every record the model folded was written there first) is
    replayed in the worker thread into one that has it.

    Returns:
        The paths of ``report.json`` and ``report.md``.

    Raises:
        WalError: the journal could not be read back.
    """
    if not model.keep_evidence:
        return await anyio.to_thread.run_sync(_replay_and_write, directory)
    summary = mission_summary(model)
    return await anyio.to_thread.run_sync(_write, summary, directory)


def _replay_and_write(directory: Path) -> tuple[Path, Path]:
    return _write(mission_summary(read_journal(mission_journal(directory))), directory)


def _write(summary: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    json_path, md_path = directory / REPORT_JSON, directory / REPORT_MD
    document = orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    _replace(json_path, document)
    _replace(md_path, render_markdown(summary).encode())
    fsync_dir(directory)
    return json_path, md_path


def _replace(path: Path, data: bytes) -> None:
    # A reader (or a crash) sees the old report or the new one, never half of one.
    temporary = path.with_name(path.name + ".tmp")
    write_private_file(temporary, data, exclusive=False)
    os.replace(temporary, path)


def render_markdown(summary: dict[str, Any]) -> str:
    """The report for people: a table of units, then the problems and the evidence."""
    totals = summary["totals"]
    lines = [
        f"# Mission {summary['mission_id']}: {summary['state'].upper()}",
        "",
        f"**Goal:** {summary['goal']}",
        "",
        f"- reason: {summary['reason'] or '-'}",
        f"- iterations: {summary['iterations']}",
        f"- units verified: {totals['verified']} of {totals['units']}",
        f"- attempts: {totals['attempts']}, review rounds: {totals['review_rounds']}, "
        f"turns: {totals['turns']}, sessions: {totals['sessions']}",
        f"- tokens: {totals['tokens']:,}, cost: ${totals['cost']:.4f}",
        f"- started: {_when(summary['created_at'])}, last record: {_when(summary['updated_at'])} "
        f"({summary['elapsed']:.1f} s)",
        "",
        "## Units",
        "",
        "| unit | title | state | attempts | rounds | sessions | tokens | cost | duration |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for unit in summary["units"]:
        duration = "-" if unit["duration"] is None else f"{unit['duration']:.1f} s"
        lines.append(
            f"| {unit['id']} | {_cell(unit['title'])} | {unit['state']} | {unit['attempts']} "
            f"| {unit['rounds']} | {len(unit['sessions'])} | {unit['tokens']:,} "
            f"| ${unit['cost']:.4f} | {duration} |"
        )
    lines.extend(_problems(summary["units"]))
    lines.extend(_evidence(summary))
    return "\n".join(lines) + "\n"


def _problems(units: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for unit in units:
        findings = (unit["verdict"] or {}).get("findings", [])
        failed = [c for c in unit["checks"] if c["exit_code"] != 0 or c["timed_out"]]
        if not (unit["failures"] or findings or failed or unit["state"] != "verified"):
            continue
        title = " ".join(unit["title"].split())
        out += ["", f"### {unit['id']}: {title} ({unit['state']})", ""]
        if unit["reason"]:
            out.append(f"- {unit['reason']}")
        out.extend(f"- {failure}" for failure in unit["failures"])
        out.extend(
            f"- finding ({f.get('severity', '?')}): {f.get('message', '')}"
            + (f" [{f['file']}]" if f.get("file") else "")
            for f in findings
        )
        out.extend(f"- check failed (exit {c['exit_code']}): `{c['command']}`" for c in failed)
    return ["", "## Problems", *out] if out else []


def _evidence(summary: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if summary["checks"]:
        out += ["", "## Mission checks", ""]
        out.extend(
            f"- `{c['command']}`: exit {c['exit_code']}"
            + (" (timed out)" if c["timed_out"] else "")
            for c in summary["checks"]
        )
    verdict = summary["master_verdict"]
    if verdict is not None:
        out += ["", "## Master review", "", f"verdict: {verdict.get('verdict', '?')}"]
        out.extend(f"- {f.get('message', '')}" for f in verdict.get("findings", []))
    if summary["sealed_evidence"] is not None:
        body = orjson.dumps(summary["sealed_evidence"], option=orjson.OPT_INDENT_2).decode()
        out += ["", "## Seal evidence", "", "```json", body, "```"]
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:80]


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"
