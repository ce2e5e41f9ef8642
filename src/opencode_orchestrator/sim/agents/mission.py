"""The scripted mission agents: planner, worker, shadow reviewer and master reviewer.

Each answers with structured output in the model :mod:`~opencode_orchestrator.mission.contracts`
defines for its role. Content is drawn from generators keyed by the seed and
the prompt, so a given goal always gets the same plan; reviews are also keyed
by how many times that unit was reviewed, so a unit that failed once is not
doomed to fail forever.
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
    Verdict,
    WorkerOutcome,
    WorkerReport,
    parse_unit_brief,
)
from opencode_orchestrator.sim.agents.base import AgentContext, ToolCall, TurnScript
from opencode_orchestrator.sim.agents.dag import build_units
from opencode_orchestrator.testing.script import ScriptedUsage

__all__ = ["mission_script"]


def _usage(prompt: str, answer_chars: int) -> ScriptedUsage:
    return ScriptedUsage(input=200 + len(prompt) // 4, output=20 + answer_chars // 4)


def _planner(ctx: AgentContext, prompt: str) -> TurnScript:
    units = build_units(ctx.config.planner, prompt, ctx.rng("planner", prompt))
    plan = PlanOutput(summary=f"{len(units)} units ({ctx.config.planner.shape})", units=units)
    body = plan.model_dump(mode="json")
    return TurnScript(structured=body, usage=_usage(prompt, len(str(body))))


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
    rng = ctx.rng("worker", unit.id, ctx.next_attempt(f"worker:{unit.id}"))
    if rng.random() < ctx.config.worker.blocked_rate:
        report = WorkerReport(
            outcome=WorkerOutcome.BLOCKED, summary=f"unit {unit.id} blocked (simulated)"
        )
        return TurnScript(structured=report.model_dump(mode="json"), usage=_usage(prompt, 60))
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
    report = WorkerReport(
        outcome=WorkerOutcome.DONE,
        summary=f"unit {unit.id} done: {len(unit.files)} file(s) written",
        files_changed=list(unit.files),
    )
    return TurnScript(
        structured=report.model_dump(mode="json"),
        tools=tools,
        usage=_usage(prompt, 200 * max(1, len(tools))),
    )


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
