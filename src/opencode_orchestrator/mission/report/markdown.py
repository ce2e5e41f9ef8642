"""``report.md``: the report for people reading it in a terminal or on a forge.

Sections: the outcome and why it ended, the budget, usage per role, the
units, the timeline (as tables), each unit's evidence, the project's diff
stats, the mission checks and the master review. Long lists are cut with a
note saying how much more ``report.json`` holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import orjson

from opencode_orchestrator.mission.report.summary import ending_text
from opencode_orchestrator.mission.report.timeline import turn_outcome

__all__ = ["render_markdown"]

MAX_TURN_ROWS: Final = 400
MAX_DETAILED_UNITS: Final = 200
MAX_DIFF_ROWS: Final = 200


def render_markdown(summary: dict[str, Any], diff: dict[str, Any] | None = None) -> str:
    """The report for people: outcome, budget, units, timeline, evidence.

    ``diff``: the project's diff stats (:func:`~.diffstat.diff_stats`), if taken.
    """
    totals = summary["totals"]
    lines = [
        f"# Mission {summary['mission_id']}: {summary['state'].upper()}",
        "",
        f"**Goal:** {summary['goal']}",
        "",
        f"**Why it ended:** {ending_text(summary)}",
        "",
        f"- iterations: {summary['iterations']}",
        f"- units verified: {totals['verified']} of {totals['units']}",
        f"- attempts: {totals['attempts']}, review rounds: {totals['review_rounds']}, "
        f"turns: {totals['turns']}, sessions: {totals['sessions']}",
        f"- tokens: {totals['tokens']:,}, cost: ${totals['cost']:.4f}",
        f"- started: {_when(summary['created_at'])}, last record: {_when(summary['updated_at'])} "
        f"({summary['elapsed']:.1f} s)",
    ]
    lines += _budget(summary.get("budget"))
    lines += _usage(summary.get("usage"))
    lines += _units(summary["units"])
    if "timeline" in summary:
        lines += _timeline(summary["timeline"])
    lines += _evidence_per_unit(summary["units"], diff)
    lines += _diff(diff)
    lines += _mission_evidence(summary)
    return "\n".join(lines) + "\n"


def _budget(budget: dict[str, Any] | None) -> list[str]:
    if not budget:
        return []
    out = ["", "## Budget", "", "| | used | cap | share |", "|---|--:|--:|--:|"]
    for name, fmt in (("tokens", "{:,.0f}"), ("cost", "${:.4f}"), ("wall_seconds", "{:.1f} s")):
        used, cap = budget[name]["used"], budget[name]["cap"]
        share = f"{used / cap:.0%}" if cap else "-"
        limit = fmt.format(cap) if cap is not None else "no cap"
        out.append(f"| {name.replace('_', ' ')} | {fmt.format(used)} | {limit} | {share} |")
    return out


def _usage(usage: dict[str, dict[str, Any]] | None) -> list[str]:
    if not usage:
        return []
    out = ["", "## Tokens and cost per role", "", "| role | turns | tokens | cost |"]
    out.append("|---|--:|--:|--:|")
    for role, entry in usage.items():
        out.append(
            f"| {role.replace('_', ' ')} | {entry['turns']} | {entry['tokens']:,} "
            f"| ${entry['cost']:.4f} |"
        )
    return out


def _units(units: list[dict[str, Any]]) -> list[str]:
    out = [
        "",
        "## Units",
        "",
        "| unit | title | state | attempts | rounds | sessions | tokens | cost | duration |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for unit in units:
        duration = "-" if unit["duration"] is None else f"{unit['duration']:.1f} s"
        out.append(
            f"| {_cell(unit['id'])} | {_cell(unit['title'])} | {unit['state']} "
            f"| {unit['attempts']} | {unit['rounds']} | {len(unit['sessions'])} "
            f"| {unit['tokens']:,} | ${unit['cost']:.4f} | {duration} |"
        )
    return out


def _timeline(timeline: dict[str, Any]) -> list[str]:
    out = ["", "## Timeline", "", "Seconds since the mission was created.", ""]
    out += ["| phase | iteration | from | to |", "|---|--:|--:|--:|"]
    out.extend(
        f"| {p['state']} | {p['iteration']} | {p['start']:.3f} | {p['end']:.3f} |"
        for p in timeline["phases"]
    )
    turns = timeline["turns"]
    out += [
        "",
        "| lane | kind | attempt | from | to | outcome | tokens | cost |",
        "|---|---|--:|--:|--:|---|--:|--:|",
    ]
    for turn in turns[:MAX_TURN_ROWS]:
        lane = turn["unit"] or turn["role"]
        if turn["unit"]:
            lane += " reviewer" if "review" in turn["role"] else " worker"
        end = "-" if turn["end"] is None else f"{turn['end']:.3f}"
        outcome = turn_outcome(turn).replace("_", " ")
        out.append(
            f"| {_cell(lane)} | {turn['kind']} | {turn['attempt']} | {turn['start']:.3f} "
            f"| {end} | {outcome} | {turn['tokens']:,} | ${turn['cost']:.4f} |"
        )
    if len(turns) > MAX_TURN_ROWS:
        out += ["", f"({len(turns) - MAX_TURN_ROWS} more turns in report.json)"]
    return out


def _has_problem(unit: dict[str, Any]) -> bool:
    failed = [c for c in unit["checks"] if c["exit_code"] != 0 or c["timed_out"]]
    findings = (unit["verdict"] or {}).get("findings", [])
    return bool(unit["failures"] or findings or failed or unit["state"] != "verified")


def _evidence_per_unit(units: list[dict[str, Any]], diff: dict[str, Any] | None) -> list[str]:
    stats = {f["path"]: f for f in (diff or {}).get("files", ())}
    chosen = [u for u in units if _has_problem(u)]
    chosen += [u for u in units if not _has_problem(u)][: max(0, MAX_DETAILED_UNITS - len(chosen))]
    order = {u["id"]: i for i, u in enumerate(units)}
    chosen.sort(key=lambda u: order[u["id"]])
    out = ["", "## Evidence per unit"]
    for unit in chosen:
        title = " ".join(unit["title"].split())
        out += ["", f"### {unit['id']}: {title} ({unit['state']})", ""]
        if unit["reason"]:
            out.append(f"- {unit['reason']}")
        out.extend(f"- {failure}" for failure in unit["failures"])
        for check in unit.get("check_runs", unit["checks"]):
            mark = "passed" if check["exit_code"] == 0 and not check["timed_out"] else "failed"
            timed = " (timed out)" if check["timed_out"] else ""
            out.append(f"- check {mark} (exit {check['exit_code']}{timed}): `{check['command']}`")
        for review in unit.get("reviews", ()):
            kind = "shadow review" if review["shadow"] else "review"
            out.append(f"- {kind} round {review['round']}: {review['verdict']}")
        findings = (unit["verdict"] or {}).get("findings", [])
        out.extend(
            f"- finding ({f.get('severity', '?')}): {f.get('message', '')}"
            + (f" [{f['file']}]" if f.get("file") else "")
            for f in findings
        )
        for name in unit.get("files_changed", ()):
            stat = stats.get(name)
            figures = f" (+{stat['added']} -{stat['deleted']})" if stat else ""
            out.append(f"- changed `{name}`{figures}")
    if len(chosen) < len(units):
        out += ["", f"({len(units) - len(chosen)} more verified units without findings)"]
    return out


def _diff(diff: dict[str, Any] | None) -> list[str]:
    if diff is None:
        return []
    out = ["", "## Diff stats", "", f"Source: {diff['source']}"]
    files = diff.get("files", [])
    if not files:
        return out
    out += ["", f"{len(files)} file(s), +{diff['added']} -{diff['deleted']}", ""]
    out += ["| file | added | deleted |", "|---|--:|--:|"]
    out.extend(
        f"| {_cell(f['path'], 120)} | {_figure(f['added'])} | {_figure(f['deleted'])} |"
        for f in files[:MAX_DIFF_ROWS]
    )
    if len(files) > MAX_DIFF_ROWS:
        out += ["", f"({len(files) - MAX_DIFF_ROWS} more files in report.json)"]
    return out


def _mission_evidence(summary: dict[str, Any]) -> list[str]:
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


def _figure(value: int | None) -> str:
    return "binary" if value is None else str(value)


def _cell(text: str, limit: int = 80) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:limit]


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"
