"""The scripted mission agents: planner, worker, shadow reviewer and master reviewer.

Each answers with structured output in the model :mod:`~opencode_orchestrator.mission.contracts`
defines for its role. Content is drawn from generators keyed by the seed and
the prompt, so a given goal always gets the same plan; reviews and worker turns
are also keyed by how many times that unit was seen, so a unit that failed once
is not doomed to fail forever. The worker's misbehaviours (``blocked``, a
``split``, a failing tool, no report) are drawn per turn at the configured
rates (a split only on a unit's first turn).
"""

from __future__ import annotations

from pathlib import Path

from opencode_orchestrator.mission.contracts import (
    AGENT_MASTER_REVIEWER,
    AGENT_PLANNER,
    AGENT_REVIEWER,
    AGENT_WORKER,
    Finding,
    PlanOutput,
    ReviewVerdict,
    Severity,
    UnitSpec,
    Verdict,
    WorkerOutcome,
    WorkerReport,
    parse_unit_brief,
)
from opencode_orchestrator.sim.agents.base import AgentContext, ToolCall, TurnScript
from opencode_orchestrator.sim.agents.dag import build_units
from opencode_orchestrator.testing.script import ScriptedUsage

__all__ = ["mission_script"]

_MISSING_TEXT = "text this file does not hold (simulated tool error)"
_OUTSIDE = "../outside.py"


def _usage(prompt: str, answer_chars: int) -> ScriptedUsage:
    return ScriptedUsage(input=200 + len(prompt) // 4, output=20 + answer_chars // 4)


def _planner(ctx: AgentContext, prompt: str) -> TurnScript:
    config = ctx.config.planner
    units = build_units(config, prompt, ctx.rng("planner", prompt))
    if ctx.next_attempt("planner") <= config.invalid_plans:
        units = _invalid(units)
    plan = PlanOutput(
        summary=f"{len(units)} units ({ctx.config.planner.shape})",
        units=units,
        # What a real planner notes for later missions, so the knowledge file fills up.
        learnings=["simulated project: each unit's code lives under src/<unit>/"],
    )
    body = plan.model_dump(mode="json")
    return TurnScript(structured=body, usage=_usage(prompt, len(str(body))))


def _invalid(units: list[UnitSpec]) -> list[UnitSpec]:
    """``units`` broken twice: the first and last depend on each other, the first writes outside."""
    first, last = units[0], units[-1]
    broken = list(units)
    broken[0] = first.model_copy(
        update={"depends_on": [*first.depends_on, last.id], "files": [*first.files, _OUTSIDE]}
    )
    if len(units) > 1:
        broken[-1] = last.model_copy(update={"depends_on": [*last.depends_on, first.id]})
    return broken


def _file_content(unit_id: str, title: str, path: str, seed: int) -> str:
    return (
        f'"""{path}: written by the simulated mission-worker for unit {unit_id}."""\n\n'
        f"UNIT = {unit_id!r}\nTITLE = {title!r}\nSEED = {seed}\n"
    )


def _worker(ctx: AgentContext, prompt: str, directory: str) -> TurnScript:
    unit = parse_unit_brief(prompt)
    if unit is None:
        report = WorkerReport(outcome=WorkerOutcome.BLOCKED, summary="no <unit> in the prompt")
        return TurnScript(structured=report.model_dump(mode="json"), usage=_usage(prompt, 40))
    turn = ctx.next_attempt(f"worker:{unit.id}")
    rng = ctx.rng("worker", unit.id, turn)
    config = ctx.config.worker
    if rng.random() < config.blocked_rate:
        report = WorkerReport(
            outcome=WorkerOutcome.BLOCKED, summary=f"unit {unit.id} blocked (simulated)"
        )
        return TurnScript(structured=report.model_dump(mode="json"), usage=_usage(prompt, 60))
    # A worker decides to split when it first sees a unit, not in a follow-up turn.
    if turn == 1 and unit.files and rng.random() < config.split_rate:
        return _split(unit, prompt)
    root = Path(directory)
    tools = tuple(
        ToolCall(
            "write",
            {
                "filePath": str(root / rel),
                "content": _file_content(unit.id, unit.title, rel, ctx.config.seed),
            },
        )
        for rel in unit.files
    )
    usage = _usage(prompt, 200 * max(1, len(tools)))
    if rng.random() < config.tool_error_rate:
        # An edit of text the file does not hold fails its tool part; the worker
        # gives up in text, which a schema prompt turns into StructuredOutputError.
        target = str(root / (unit.files[0] if unit.files else f"{unit.id}.txt"))
        failing = ToolCall(
            "edit",
            {"filePath": target, "oldString": _MISSING_TEXT, "newString": "replaced"},
        )
        reply = f"unit {unit.id}: an edit failed, stopping here."
        return TurnScript(reply=reply, tools=(*tools, failing), usage=usage)
    if rng.random() < config.no_report_rate:
        reply = f"unit {unit.id}: {len(tools)} file(s) written."
        return TurnScript(reply=reply, tools=tools, usage=usage)
    report = WorkerReport(
        outcome=WorkerOutcome.DONE,
        summary=f"unit {unit.id} done: {len(unit.files)} file(s) written",
        files_changed=list(unit.files),
    )
    return TurnScript(structured=report.model_dump(mode="json"), tools=tools, usage=usage)


def _split(unit: UnitSpec, prompt: str) -> TurnScript:
    parts = [
        UnitSpec(
            id=f"part{n}",
            title=f"{unit.title} (part {n})",
            description=f"Part {n} of unit {unit.id}: {path}",
            files=[path],
            checks=list(unit.checks),
        )
        for n, path in enumerate(unit.files, start=1)
    ]
    report = WorkerReport(
        outcome=WorkerOutcome.SPLIT,
        summary=f"unit {unit.id} split into {len(parts)} sub-unit(s)",
        subunits=parts,
    )
    body = report.model_dump(mode="json")
    return TurnScript(structured=body, usage=_usage(prompt, len(str(body))))


def _reviewer(ctx: AgentContext, prompt: str, *, master: bool) -> TurnScript:
    unit = parse_unit_brief(prompt)
    key = unit.id if unit is not None else "mission"
    role = "master" if master else "reviewer"
    rng = ctx.rng(role, key, ctx.next_attempt(f"{role}:{key}"))
    rate = ctx.config.reviewer.master_fail_rate if master else ctx.config.reviewer.fail_rate
    verdict = ReviewVerdict(verdict=Verdict.PASS)
    if rng.random() < rate:
        files = unit.files if unit is not None and unit.files else [None]
        count = rng.randint(1, ctx.config.reviewer.max_findings)
        findings = [
            Finding(
                severity=Severity.BLOCKER if n == 0 else rng.choice(list(Severity)),
                message=f"simulated finding {n + 1} on {key} (seeded)",
                file=rng.choice(files),
            )
            for n in range(count)
        ]
        verdict = ReviewVerdict(verdict=Verdict.FAIL, findings=findings)
    body = verdict.model_dump(mode="json")
    return TurnScript(structured=body, usage=_usage(prompt, len(str(body))))


def mission_script(ctx: AgentContext, agent: str, prompt: str, directory: str) -> TurnScript:
    """The turn of mission agent ``agent`` (one of ``MISSION_AGENTS``).

    Raises:
        ValueError: ``agent`` is not a mission agent.
    """
    if agent == AGENT_PLANNER:
        return _planner(ctx, prompt)
    if agent == AGENT_WORKER:
        return _worker(ctx, prompt, directory)
    if agent in (AGENT_REVIEWER, AGENT_MASTER_REVIEWER):
        return _reviewer(ctx, prompt, master=agent == AGENT_MASTER_REVIEWER)
    raise ValueError(f"not a mission agent: {agent!r}")
