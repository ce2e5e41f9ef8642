"""``report.html``: the report as one self-contained page, readable offline.

Inline CSS (:mod:`.style`), the chart as inline SVG (:mod:`.svg`), no script,
no font, image or URL to fetch. Every text that came from a model, a user or
the project (goal, titles, reasons, findings, commands and their output, file
names) goes through :func:`html.escape`, so nothing in it can become markup.
"""

from __future__ import annotations

from html import escape
from typing import Any, Final

import orjson

from opencode_orchestrator.mission.checks import record_passed
from opencode_orchestrator.mission.figures import duration_text
from opencode_orchestrator.mission.report.evidence import (
    check_outcome,
    detailed_units,
    has_problem,
    in_race_order,
    race_note,
)
from opencode_orchestrator.mission.report.palette import OUTCOMES, STATE_COLOURS
from opencode_orchestrator.mission.report.style import CSS
from opencode_orchestrator.mission.report.summary import WALL_NOTE, ending_text
from opencode_orchestrator.mission.report.svg import render_svg
from opencode_orchestrator.mission.report.timeline import build_chart

__all__ = ["render_html"]

MAX_DIFF_ROWS: Final = 300


def e(value: object) -> str:
    """``value`` as text that is never markup."""
    return escape(str(value), quote=True)


def render_html(summary: dict[str, Any], diff: dict[str, Any] | None = None) -> str:
    """The whole page for ``summary`` (a chart only if it has a ``timeline``).

    ``diff``: the project's diff stats (:func:`~.diffstat.diff_stats`), if taken.
    """
    state = summary["state"]
    colour = STATE_COLOURS.get(state, "#1d4ed8")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Mission {e(summary['mission_id'])}: {e(state.upper())}</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<header>",
        '<div class="eyebrow">OpenCode Orchestrator · mission report</div>',
        f"<h1>Mission <code>{e(summary['mission_id'])}</code> "
        f'<span class="badge" style="background:{colour}">{e(state.upper())}</span></h1>',
        f'<p class="goal">{e(summary["goal"])}</p>',
        f'<p class="why"><strong>Why it ended:</strong> {e(ending_text(summary))}</p>',
        "</header>",
        _cards(summary),
        _timeline(summary),
        '<div class="split">',
        _budget(summary.get("budget")),
        _usage(summary.get("usage")),
        "</div>",
        _units(summary["units"]),
        _evidence(summary["units"], diff),
        _diff(diff),
        _mission_evidence(summary),
        f"<footer>Written from the mission's journal (project {e(summary['project'])}). "
        "Times are seconds since the mission was created.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _cards(summary: dict[str, Any]) -> str:
    totals = summary["totals"]
    cards = [
        (f"{totals['verified']} / {totals['units']}", "units verified"),
        (duration_text(summary["elapsed"]), "elapsed"),
        (f"{totals['turns']:,}", "turns"),
        (f"{totals['tokens']:,}", "tokens"),
        (f"${totals['cost']:.4f}", "cost"),
        (str(summary["iterations"]), "iterations"),
    ]
    body = "".join(f'<div class="card"><b>{e(v)}</b><span>{e(k)}</span></div>' for v, k in cards)
    return f'<section class="cards">{body}</section>'


def _timeline(summary: dict[str, Any]) -> str:
    if "timeline" not in summary:
        return ""
    chart = build_chart(summary)
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{e(text)}</span>'
        for colour, text in OUTCOMES.values()
    )
    note = (
        f'<p class="note">{len(summary["units"])} units: each row merges {chart.units_per_row} '
        "consecutive units (overlapping bars of one colour drawn as one); the tables below list "
        "every unit.</p>"
        if chart.units_per_row > 1
        else "<p class=\"note\">Each unit's row: its worker's turns and checks above, its "
        "reviewers' turns below. Hover a bar for its details.</p>"
    )
    return (
        f'<section><h2>Timeline</h2><div class="legend">{legend}</div>'
        f'<div class="scroll">{render_svg(chart)}</div>{note}</section>'
    )


def _budget(budget: dict[str, Any] | None) -> str:
    if not budget:
        return ""
    rows = []
    for name, label, fmt in (
        ("tokens", "tokens", "{:,.0f}".format),
        ("cost", "cost", "${:.4f}".format),
        ("wall_seconds", "wall time*", duration_text),
    ):
        used, cap = budget[name]["used"], budget[name]["cap"]
        share = used / cap if cap else None
        bar = (
            # Only the bar stops at its end: the figure says by how much a cap was passed.
            f'<span class="bar"><i style="width:{min(share, 1.0) * 100:.0f}%"></i></span> '
            f"{share:.0%}"
            if share is not None
            else "-"
        )
        limit = fmt(cap) if cap is not None else "no cap"
        rows.append(
            f"<tr><td>{e(label)}</td><td class=n>{e(fmt(used))}</td>"
            f"<td class=n>{e(limit)}</td><td>{bar}</td></tr>"
        )
    return (
        "<section><h2>Budget</h2><table><tr><th></th><th class=n>used</th><th class=n>cap</th>"
        f'<th>share</th></tr>{"".join(rows)}</table><p class="note">* {e(WALL_NOTE)}</p>'
        "</section>"
    )


def _usage(usage: dict[str, dict[str, Any]] | None) -> str:
    if not usage:
        return ""
    rows = "".join(
        f"<tr><td>{e(role.replace('_', ' '))}</td><td class=n>{u['turns']}</td>"
        f"<td class=n>{u['tokens']:,}</td><td class=n>${u['cost']:.4f}</td></tr>"
        for role, u in usage.items()
    )
    return (
        "<section><h2>Tokens and cost per role</h2><table><tr><th>role</th>"
        "<th class=n>turns</th><th class=n>tokens</th><th class=n>cost</th></tr>"
        f"{rows}</table></section>"
    )


def _units(units: list[dict[str, Any]]) -> str:
    if not units:
        return '<section><h2>Units</h2><p class="note">No unit was planned.</p></section>'
    rows = []
    for u in in_race_order(units):
        duration = "-" if u["duration"] is None else duration_text(u["duration"])
        note = race_note(u)
        by_role = u.get("usage") or {}
        worker = by_role.get("worker", {}).get("tokens")
        reviews = sum(by_role.get(r, {}).get("tokens", 0) for r in ("reviewer", "shadow_reviewer"))
        split = f"{worker:,} / {reviews:,}" if worker is not None else "-"
        rows.append(
            f"<tr><td><code>{e(u['id'])}</code></td><td>{e(u['title'])}"
            + (f' <span class="note">({e(note)})</span>' if note else "")
            + "</td>"
            f'<td class="state {e(u["state"])}">{e(u["state"])}</td>'
            f"<td class=n>{u['attempts']}</td><td class=n>{u['rounds']}</td>"
            f"<td class=n>{len(u.get('files_changed', ()))}</td>"
            f"<td class=n>{u['tokens']:,}</td><td class=n>{e(split)}</td>"
            f"<td class=n>${u['cost']:.4f}</td><td class=n>{duration}</td></tr>"
        )
    return (
        "<section><h2>Units</h2><table><tr><th>unit</th><th>title</th><th>state</th>"
        "<th class=n>attempts</th><th class=n>rounds</th><th class=n>files</th>"
        "<th class=n>tokens</th><th class=n>worker / reviews</th><th class=n>cost</th>"
        f"<th class=n>duration</th></tr>{''.join(rows)}</table></section>"
    )


def _evidence(units: list[dict[str, Any]], diff: dict[str, Any] | None) -> str:
    if not units:
        return ""
    stats = {f["path"]: f for f in (diff or {}).get("files", ())}
    shown, more = detailed_units(units)
    blocks = [_unit_evidence(u, stats) for u in shown]
    note = (
        f'<p class="note">{more} more units with nothing to report (verified without '
        "findings, or racing strategies that lost).</p>"
        if more
        else ""
    )
    return f"<section><h2>Evidence per unit</h2>{''.join(blocks)}{note}</section>"


def _outcome(check: dict[str, Any]) -> str:
    """The "exit code" cell: the code alone (``1``), or how the check ended without one."""
    return check_outcome(check).removeprefix("exit ")


def _unit_evidence(u: dict[str, Any], stats: dict[str, dict[str, Any]]) -> str:
    items = [f"<li>{e(u['reason'])}</li>"] if u["reason"] else []
    items += [f"<li>{e(failure)}</li>" for failure in u["failures"]]
    body = [f"<ul>{''.join(items)}</ul>"] if items else []
    checks = u.get("check_runs", u["checks"])
    if checks:
        rows = "".join(
            f"<tr><td><code>{e(c['command'])}</code></td>"
            f'<td class="n {"pass" if record_passed(c) else "fail"}">'
            f"{e(_outcome(c))}</td>"
            f"<td class=n>{_seconds(c['duration'])}</td></tr>"
            + (
                f"<tr><td colspan=3><pre>{e(c['output_tail'])}</pre></td></tr>"
                if c["output_tail"] and not record_passed(c)
                else ""
            )
            for c in checks
        )
        body.append(
            "<h3>Checks</h3><table><tr><th>command</th><th class=n>exit code</th>"
            f"<th class=n>duration</th></tr>{rows}</table>"
        )
    reviews = u.get("reviews") or []
    if reviews:
        lines = []
        for r in reviews:
            kind = "shadow review" if r["shadow"] else "review"
            css = "pass" if r["verdict"] == "pass" else "fail"
            findings = "".join(
                f"<li>{e(f.get('severity', '?'))}: {e(f.get('message', ''))}"
                + (f" <code>{e(f['file'])}</code>" if f.get("file") else "")
                + "</li>"
                for f in r["findings"]
                if isinstance(f, dict)
            )
            lines.append(
                f'<li>{kind} round {r["round"]}: <span class="{css}">{e(r["verdict"])}</span>'
                + (f"<ul>{findings}</ul>" if findings else "")
                + "</li>"
            )
        body.append(f"<h3>Reviews</h3><ul>{''.join(lines)}</ul>")
    files = u.get("files_changed") or []
    if files:
        rows = "".join(
            f"<tr><td><code>{e(name)}</code></td>{_stat_cells(stats.get(name))}</tr>"
            for name in files
        )
        body.append(
            "<h3>Files changed (as the worker reported them)</h3><table><tr><th>file</th>"
            f"<th class=n>added</th><th class=n>deleted</th></tr>{rows}</table>"
        )
    opened = " open" if has_problem(u) else ""
    note = race_note(u)
    return (
        f"<details{opened}><summary><code>{e(u['id'])}</code> {e(u['title'])} · "
        f'<span class="state {e(u["state"])}">{e(u["state"])}</span>'
        + (f" · {e(note)}" if note else "")
        + "</summary>"
        + f"{''.join(body) or '<p class=note>No evidence recorded.</p>'}</details>"
    )


def _stat_cells(stat: dict[str, Any] | None) -> str:
    if stat is None:
        return "<td class=n>-</td><td class=n>-</td>"
    added, deleted = stat["added"], stat["deleted"]
    return (
        f"<td class=n>{'binary' if added is None else f'+{added}'}</td>"
        f"<td class=n>{'binary' if deleted is None else f'-{deleted}'}</td>"
    )


def _diff(diff: dict[str, Any] | None) -> str:
    if diff is None:
        return ""
    files = diff["files"]
    head = f'<p class="note">Source: {e(diff["source"])}</p>'
    if not files:
        return f"<section><h2>Diff stats</h2>{head}</section>"
    rows = "".join(
        f"<tr><td><code>{e(f['path'])}</code></td>{_stat_cells(f)}</tr>"
        for f in files[:MAX_DIFF_ROWS]
    )
    total = len(files) + diff["more"]
    shown = min(len(files), MAX_DIFF_ROWS)
    tail = (
        f'<p class="note">{total - shown} more files changed, not listed.</p>'
        if total > shown
        else ""
    )
    uncounted = (
        f" (not counting the lines of {diff['uncounted']} untracked files not listed)"
        if diff["uncounted"]
        else ""
    )
    return (
        f"<section><h2>Diff stats</h2><p>{total} file(s), +{diff['added']} "
        f"-{diff['deleted']}{e(uncounted)}</p><table><tr><th>file</th><th class=n>added</th>"
        f"<th class=n>deleted</th></tr>{rows}</table>{head}{tail}</section>"
    )


def _mission_evidence(summary: dict[str, Any]) -> str:
    parts = []
    if summary["checks"]:
        rows = "".join(
            f"<tr><td><code>{e(c['command'])}</code></td><td class=n>{e(_outcome(c))}</td>"
            f"<td class=n>{_seconds(c['duration'])}</td></tr>"
            for c in summary["checks"]
        )
        parts.append(
            "<h3>Mission checks</h3><table><tr><th>command</th><th class=n>exit code</th>"
            f"<th class=n>duration</th></tr>{rows}</table>"
        )
    verdict = summary["master_verdict"]
    if verdict is not None:
        findings = "".join(
            f"<li>{e(f.get('severity', '?'))}: {e(f.get('message', ''))}</li>"
            for f in verdict.get("findings", [])
            if isinstance(f, dict)
        )
        parts.append(
            f"<h3>Master review</h3><p>verdict: <b>{e(verdict.get('verdict', '?'))}</b></p>"
            + (f"<ul>{findings}</ul>" if findings else "")
        )
    if summary["sealed_evidence"] is not None:
        body = orjson.dumps(summary["sealed_evidence"], option=orjson.OPT_INDENT_2).decode()
        parts.append(f"<h3>Seal evidence</h3><pre>{e(body)}</pre>")
    if not parts:
        return ""
    return f"<section><h2>Mission evidence</h2>{''.join(parts)}</section>"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
