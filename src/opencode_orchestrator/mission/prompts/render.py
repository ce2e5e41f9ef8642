"""The per-turn prompts: the role files' sections filled with one turn's data.

Templates are ``string.Template`` text, so goals, JSON and command output full
of braces or ``$`` go in verbatim: substituted values are never scanned again.
A template line holding nothing but a placeholder whose value is empty is left
out, so optional blocks (no knowledge yet, no dependencies) leave no gap.

Every prompt a worker or reviewer gets starts with the unit's
:func:`~opencode_orchestrator.mission.contracts.render_unit_brief`, before any
free text, so a ``<unit>`` quoted in a goal or a summary can never be read back
instead of the real one. The master's prompt carries none.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from string import Template
from typing import Final

from opencode_orchestrator.mission.contracts import Finding, UnitSpec, render_unit_brief
from opencode_orchestrator.mission.prompts.fields import list_fields
from opencode_orchestrator.mission.prompts.loader import output_model, section

__all__ = [
    "render_continue_prompt",
    "render_fix_prompt",
    "render_master_prompt",
    "render_nudge_prompt",
    "render_planner_prompt",
    "render_recover_prompt",
    "render_reviewer_prompt",
    "render_subunits_done_prompt",
    "render_worker_prompt",
]

_PLACEHOLDER_LINE: Final = re.compile(r"\$(?:(\w+)|\{(\w+)\})")
_BLANK_RUNS: Final = re.compile(r"\n{3,}")
_BACKTICKS: Final = re.compile(r"`+")


def _fill(role: str, name: str, **values: str) -> str:
    text = section(role, name)
    dropped = frozenset(
        placeholder
        for _, placeholder in _lines(text)
        if placeholder is not None and values.get(placeholder) == ""
    )
    return _template(text, dropped).substitute(values)


# A unit's turns fill about ten sections; each section is split and matched
# once, and each of its variants (which optional lines are left out) is built
# once. Keyed by the section's text, so a changed template is a new entry.
@functools.lru_cache(maxsize=256)
def _lines(text: str) -> tuple[tuple[str, str | None], ...]:
    """Each line of ``text``, with the placeholder it holds alone (or None)."""
    lines = []
    for line in text.split("\n"):
        match = _PLACEHOLDER_LINE.fullmatch(line.strip())
        lines.append((line, None if match is None else (match.group(1) or match.group(2))))
    return tuple(lines)


@functools.lru_cache(maxsize=1024)
def _template(text: str, dropped: frozenset[str]) -> Template:
    kept = [line for line, placeholder in _lines(text) if placeholder not in dropped]
    # Blank runs are squeezed in the template only: the values stay byte for byte.
    return Template(_BLANK_RUNS.sub("\n\n", "\n".join(kept)).strip("\n"))


def _block(role: str, name: str, value: str) -> str:
    """Section ``name`` around ``value`` (its placeholder is the section's name), or ""."""
    return _fill(role, name, **{name: value}) if value else ""


def _fields(role: str) -> str:
    return list_fields(output_model(role))


def _bullets(items: Iterable[str]) -> str:
    return "\n".join("- " + item.replace("\n", "\n  ") for item in items)


def _code(text: str) -> str:
    """``text`` as inline code, whatever backticks it holds."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    tick = "`" * (longest + 1)
    return f"{tick} {text} {tick}" if longest else f"`{text}`"


def _fenced(text: str, info: str = "") -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"


def _checks(checks: Sequence[Mapping[str, object]]) -> str:
    lines = []
    for check in checks:
        code = check.get("exit_code")
        status = "killed (timed out or cancelled)" if code is None else f"exit {code}"
        line = f"- {_code(str(check.get('command', '')))}: {status}"
        tail = str(check.get("output_tail") or "")
        if code != 0 and tail.strip():
            line += "\n" + _fenced(tail)
        lines.append(line)
    return "\n".join(lines)


def _findings(findings: Sequence[Finding]) -> str:
    return _bullets(
        f"[{f.severity.value}] " + (f"{_code(f.file)}: " if f.file else "") + f.message
        for f in findings
    )


def _summaries(results: Mapping[str, str]) -> str:
    return _bullets(
        f"{_code(key)}: {text.strip() or '(no summary)'}" for key, text in results.items()
    )


def _knowledge(role: str, knowledge: str) -> str:
    return _block(role, "knowledge", knowledge.strip())


def render_planner_prompt(
    goal: str,
    *,
    knowledge: str,
    max_units: int,
    mission_checks: Sequence[str],
    problems: Sequence[str] = (),
    existing: Sequence[UnitSpec] = (),
) -> str:
    """The planner's turn: plan ``goal`` (again, fixing ``problems``; or only new work).

    Args:
        goal: What the mission is for; in later iterations, the findings to address.
        knowledge: The project's knowledge file (may be empty).
        max_units: The most units the plan may have.
        mission_checks: Checks the mission runs already (from its settings).
        problems: Why the planner's previous plan was rejected.
        existing: Units the mission already has, not to be planned again.
    """
    checks = (
        _block("planner", "checks", _bullets(map(_code, mission_checks)))
        if mission_checks
        else _fill("planner", "no-checks")
    )
    units = _bullets(
        f"{_code(u.id)}: {u.title}"
        + (f" (files: {', '.join(map(_code, u.files))})" if u.files else "")
        for u in existing
    )
    return _fill(
        "planner",
        "plan",
        goal=goal,
        max_units=str(max_units),
        checks=checks,
        knowledge=_knowledge("planner", knowledge),
        existing=_block("planner", "existing", units),
        problems=_block("planner", "problems", _bullets(problems)),
        fields=_fields("planner"),
    )


def render_worker_prompt(
    unit: UnitSpec,
    *,
    goal: str,
    knowledge: str,
    dependencies: Mapping[str, str],
    depth: int,
    max_depth: int,
    attempt: int,
) -> str:
    """A worker's first turn on ``unit`` (or its first turn of a later ``attempt``).

    Args:
        unit: The unit to implement.
        goal: The mission's goal, for context.
        knowledge: The project's knowledge file (may be empty).
        dependencies: Summaries of the finished units ``unit`` depends on, by id.
        depth: How deep in fractal delegation ``unit`` is (0: planned by the planner).
        max_depth: The deepest delegation allowed; splitting only while ``depth < max_depth``.
        attempt: 1 for the first attempt.
    """
    if depth < max_depth:
        split = _fill("worker", "split", depth=str(depth), max_depth=str(max_depth))
    else:
        split = _fill("worker", "no-split", max_depth=str(max_depth))
    return _fill(
        "worker",
        "work",
        unit=render_unit_brief(unit),
        retry=_fill("worker", "retry", attempt=str(attempt)) if attempt > 1 else "",
        goal=goal,
        knowledge=_knowledge("worker", knowledge),
        dependencies=_block("worker", "dependencies", _summaries(dependencies)),
        split=split,
        fields=_fields("worker"),
    )


def render_fix_prompt(
    unit: UnitSpec, *, findings: Sequence[Finding], checks: Sequence[Mapping[str, object]]
) -> str:
    """The worker's turn after its change failed review or checks.

    Args:
        unit: The unit.
        findings: The reviewer's findings.
        checks: Evidence of the failed checks (``command``, ``exit_code``, ``output_tail``).
    """
    return _fill(
        "worker",
        "fix",
        unit=render_unit_brief(unit),
        id=unit.id,
        findings=_block("worker", "findings", _findings(findings)),
        checks=_block("worker", "checks", _checks(checks)),
        fields=_fields("worker"),
    )


def render_recover_prompt(unit: UnitSpec, *, error: str) -> str:
    """The worker's turn after a tool failed in its last turn: recover once."""
    return _fill(
        "worker",
        "recover",
        unit=render_unit_brief(unit),
        id=unit.id,
        error=error.strip(),
        fields=_fields("worker"),
    )


def render_nudge_prompt(unit: UnitSpec) -> str:
    """The worker's turn after it went idle without its structured report."""
    return _fill(
        "worker", "nudge", unit=render_unit_brief(unit), id=unit.id, fields=_fields("worker")
    )


def render_continue_prompt(unit: UnitSpec) -> str:
    """The worker's turn after its session was compacted."""
    return _fill(
        "worker", "continue", unit=render_unit_brief(unit), id=unit.id, fields=_fields("worker")
    )


def render_subunits_done_prompt(unit: UnitSpec, *, results: Mapping[str, str]) -> str:
    """The worker's turn once the sub-units it split into finished (``results`` by sub-unit id)."""
    return _fill(
        "worker",
        "subunits-done",
        unit=render_unit_brief(unit),
        id=unit.id,
        results=_summaries(results) or "- (none)",
        fields=_fields("worker"),
    )


def render_reviewer_prompt(
    unit: UnitSpec,
    *,
    goal: str,
    knowledge: str,
    report: str | None,
    files_changed: Sequence[str],
    shadow: bool,
    checks: Sequence[Mapping[str, object]],
) -> str:
    """A unit reviewer's turn.

    Args:
        unit: The unit under review.
        goal: The mission's goal, for context.
        knowledge: The project's knowledge file (may be empty).
        report: The worker's summary, or ``None`` while it has not reported.
        files_changed: The files the change touches.
        shadow: The worker is still writing: review what is there so far.
        checks: Evidence of the checks the orchestrator ran on the unit.
    """
    return _fill(
        "reviewer",
        "review",
        unit=render_unit_brief(unit),
        mode=_fill("reviewer", "shadow" if shadow else "final"),
        goal=goal,
        knowledge=_knowledge("reviewer", knowledge),
        report=_fill("reviewer", "no-report")
        if report is None
        else _fill("reviewer", "report", report=report.strip()),
        files=_block("reviewer", "files", _bullets(map(_code, files_changed)))
        or _fill("reviewer", "no-files"),
        checks=_block("reviewer", "checks", _checks(checks)),
        fields=_fields("reviewer"),
    )


def _defang(text: str) -> str:
    # A diff or summary may quote a unit brief (this very project's code does);
    # the master's prompt must hold no element a unit could be read back from.
    return text.replace("<unit>", "<unit >")


def render_master_prompt(
    goal: str,
    *,
    knowledge: str,
    units: Sequence[tuple[UnitSpec, str]],
    diff: str,
    checks: Sequence[Mapping[str, object]],
) -> str:
    """The master reviewer's turn over the whole change.

    Args:
        goal: The mission's goal.
        knowledge: The project's knowledge file (may be empty).
        units: Every unit with its worker's summary.
        diff: The mission's diff, possibly truncated by the caller.
        checks: Evidence of the mission checks the orchestrator ran.
    """
    summaries = _bullets(
        f"{_code(u.id)} ({u.title}): {summary.strip() or '(no summary)'}" for u, summary in units
    )
    text = _fill(
        "master",
        "review",
        goal=goal,
        knowledge=_knowledge("master", knowledge),
        units=summaries or "- (none)",
        checks=_block("master", "checks", _checks(checks)) or _fill("master", "no-checks"),
        diff=_fenced(diff, "diff"),
        fields=_fields("master"),
    )
    return _defang(text)
