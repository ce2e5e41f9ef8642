"""``report.md``: the report for people reading it in a terminal or on a forge.

Sections: the outcome and why it ended, the budget, usage per role, the
units, the timeline (as tables), each unit's evidence, the project's diff
stats, the mission checks and the master review. Long lists are cut with a
note saying how much more there is.

Every text that came from a model, a user or the project (goal, titles,
reasons, findings, commands, file names) is written so that no Markdown
viewer reads markup in it: on one line, with each character Markdown or HTML
could take for syntax backslash-escaped (no link, image or tag can start), or
as a code span whose fence is longer than any run of backticks inside.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from opencode_orchestrator.mission.checks import record_passed
from opencode_orchestrator.mission.figures import duration_text
from opencode_orchestrator.mission.report.evidence import (
    check_outcome,
    detailed_units,
    in_race_order,
    race_note,
)
from opencode_orchestrator.mission.report.summary import WALL_NOTE, ending_text
from opencode_orchestrator.mission.report.timeline import turn_outcome

__all__ = ["render_markdown"]

MAX_TURN_ROWS: Final = 400
MAX_DIFF_ROWS: Final = 200
_SPECIAL: Final = re.compile(r"[\\`*_\[\]<>!&|~#]")
"""What Markdown (CommonMark and GitHub's tables) or HTML could read as syntax."""
_BACKTICKS: Final = re.compile(r"`+")


def render_markdown(summary: dict[str, Any], diff: dict[str, Any] | None = None) -> str:
    """The report for people: outcome, budget, units, timeline, evidence.

    ``diff``: the project's diff stats (:func:`~.diffstat.diff_stats`), if taken.
    """
    totals = summary["totals"]
    strategies = totals.get("strategies", 0)
    raced = f" (and {strategies} in racing strategies)" if strategies else ""
    lines = [
        f"# Mission {_text(summary['mission_id'])}: {summary['state'].upper()}",
        "",
        f"**Goal:** {_text(summary['goal'])}",
        "",
        f"**Why it ended:** {_text(ending_text(summary))}",
        "",
        f"- iterations: {summary['iterations']}",
        f"- units verified: {totals['verified']} of {totals['units']}{raced}",
        f"- attempts: {totals['attempts']}, review rounds: {totals['review_rounds']}, "
        f"turns: {totals['turns']}, sessions: {totals['sessions']}",
        f"- tokens: {totals['tokens']:,}, cost: ${totals['cost']:.4f}",
        f"- started: {_when(summary['created_at'])}, last record: {_when(summary['updated_at'])} "
        f"({duration_text(summary['elapsed'])})",
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
    for name, label, fmt in (
        ("tokens", "tokens", "{:,.0f}".format),
        ("cost", "cost", "${:.4f}".format),
        ("wall_seconds", "wall time\\*", duration_text),
    ):
        used, cap = budget[name]["used"], budget[name]["cap"]
        share = f"{used / cap:.0%}" if cap else "-"
        limit = fmt(cap) if cap is not None else "no cap"
        out.append(f"| {label} | {fmt(used)} | {limit} | {share} |")
    out += ["", f"\\* {WALL_NOTE}"]
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
    for unit in in_race_order(units):
        duration = "-" if unit["duration"] is None else duration_text(unit["duration"])
        note = race_note(unit)
        title = _text(unit["title"], 80) + (f" ({_text(note)})" if note else "")
        out.append(
            f"| {_text(unit['id'], 80)} | {title} | {_text(unit['state'])} "
            f"| {unit['attempts']} | {unit['rounds']} | {len(unit['sessions'])} "
            f"| {unit['tokens']:,} | ${unit['cost']:.4f} | {duration} |"
        )
    return out


def _timeline(timeline: dict[str, Any]) -> list[str]:
    out = ["", "## Timeline", "", "Seconds since the mission was created.", ""]
    out += ["| phase | iteration | from | to |", "|---|--:|--:|--:|"]
    out.extend(
        f"| {_text(p['state'])} | {p['iteration']} | {p['start']:.3f} | {p['end']:.3f} |"
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
            f"| {_text(lane, 80)} | {_text(turn['kind'])} | {turn['attempt']} "
            f"| {turn['start']:.3f} | {end} | {outcome} | {turn['tokens']:,} "
            f"| ${turn['cost']:.4f} |"
        )
    if len(turns) > MAX_TURN_ROWS:
        out += ["", f"({len(turns) - MAX_TURN_ROWS} more turns in report.json)"]
    return out


def _evidence_per_unit(units: list[dict[str, Any]], diff: dict[str, Any] | None) -> list[str]:
    stats = {f["path"]: f for f in (diff or {}).get("files", ())}
    chosen, more = detailed_units(units)
    out = ["", "## Evidence per unit"]
    for unit in chosen:
        note = race_note(unit)
        state = _text(unit["state"]) + (f"; {_text(note)}" if note else "")
        out += ["", f"### {_text(unit['id'])}: {_text(unit['title'])} ({state})", ""]
        if unit["reason"]:
            out.append(f"- {_text(unit['reason'])}")
        out.extend(f"- {_text(failure)}" for failure in unit["failures"])
        for check in unit.get("check_runs", unit["checks"]):
            mark = "passed" if record_passed(check) else "failed"
            out.append(f"- check {mark} ({_text(check_outcome(check))}): {_code(check['command'])}")
        if "reviews" in unit:
            for review in unit["reviews"]:
                kind = "shadow review" if review["shadow"] else "review"
                out.append(f"- {kind} round {review['round']}: {_text(review['verdict'])}")
                out += _findings(review["findings"], indent="  ")
        else:  # a summary without history: the final verdict alone
            out += _findings((unit["verdict"] or {}).get("findings") or ())
        for name in unit.get("files_changed", ()):
            stat = stats.get(name)
            figures = f" (+{_figure(stat['added'])} -{_figure(stat['deleted'])})" if stat else ""
            out.append(f"- changed {_code(name)}{figures}")
    if more:
        out += [
            "",
            f"({more} more units with nothing to report: verified without findings, "
            "or racing strategies that lost)",
        ]
    return out


def _findings(findings: Iterable[object], *, indent: str = "") -> list[str]:
    return [
        f"{indent}- finding ({_text(f.get('severity', '?'))}): {_text(f.get('message', ''))}"
        + (f" in {_code(f['file'])}" if f.get("file") else "")
        for f in findings
        if isinstance(f, dict)
    ]


def _diff(diff: dict[str, Any] | None) -> list[str]:
    if diff is None:
        return []
    out = ["", "## Diff stats", "", f"Source: {_text(diff['source'])}"]
    files = diff["files"]
    if not files:
        return out
    total = len(files) + diff["more"]
    uncounted = (
        f" (not counting the lines of {diff['uncounted']} untracked files not listed)"
        if diff["uncounted"]
        else ""
    )
    out += ["", f"{total} file(s), +{diff['added']} -{diff['deleted']}{uncounted}", ""]
    out += ["| file | added | deleted |", "|---|--:|--:|"]
    out.extend(
        f"| {_text(f['path'], 120)} | {_figure(f['added'])} | {_figure(f['deleted'])} |"
        for f in files[:MAX_DIFF_ROWS]
    )
    shown = min(len(files), MAX_DIFF_ROWS)
    if total > shown:
        out += ["", f"({total - shown} more files changed, not listed)"]
    return out


def _mission_evidence(summary: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if summary["checks"]:
        out += ["", "## Mission checks", ""]
        out.extend(f"- {_code(c['command'])}: {_text(check_outcome(c))}" for c in summary["checks"])
    verdict = summary["master_verdict"]
    if verdict is not None:
        out += ["", "## Master review", "", f"verdict: {_text(verdict.get('verdict', '?'))}"]
        out.extend(
            f"- {_text(f.get('message', ''))}"
            for f in verdict.get("findings", [])
            if isinstance(f, dict)
        )
    if summary["sealed_evidence"] is not None:
        body = orjson.dumps(summary["sealed_evidence"], option=orjson.OPT_INDENT_2).decode()
        fence = "`" * max(3, _longest_backticks(body) + 1)
        out += ["", "## Seal evidence", "", f"{fence}json", body, fence]
    return out


def _text(value: object, limit: int | None = None) -> str:
    """``value`` as Markdown that is only text: one line, every special character escaped.

    ``limit``: cut to that many characters (before escaping, so no escape is cut in half).
    """
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return _SPECIAL.sub(lambda match: "\\" + match.group(), text)


def _code(value: object) -> str:
    """``value`` as a code span on one line: its fence is longer than any backtick run in it."""
    text = " ".join(str(value).splitlines()) or " "
    fence = "`" * (_longest_backticks(text) + 1)
    # A viewer strips one space from each end when both are there: pad so it strips ours.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def _figure(value: int | None) -> str:
    return "binary" if value is None else str(value)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"
