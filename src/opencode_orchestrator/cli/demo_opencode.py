"""The demo's OpenCode step: the client against the simulated OpenCode, offline.

A planner session answers with a plan (structured output), child worker
sessions write their units' files into the project, a reviewer gives its
verdict, and a provider rate limit is ridden out; all of it through
:class:`~opencode_orchestrator.opencode.OpenCodeClient`, with the event stream
attached, against :class:`~opencode_orchestrator.sim.SimServer`. The mission
engine that will drive these steps for real is the next layer up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio

from opencode_orchestrator.mission import (
    AGENT_PLANNER,
    AGENT_REVIEWER,
    AGENT_WORKER,
    PlanOutput,
    ReviewVerdict,
    WorkerReport,
    render_unit_brief,
)
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.opencode.models import SessionStatusEvent
from opencode_orchestrator.sim import SimConfig, SimServer
from opencode_orchestrator.testing.script import Fault, ScriptDirective, render_directive

__all__ = ["opencode_step"]

_WORKERS = 3
_CONFIG = SimConfig(seed=42, cost_per_1k_tokens=0.003)


async def opencode_step(project: Path, say: Callable[[str], None]) -> bool:
    """Run the step; ``True`` when every file a worker reported is on disk."""
    state_dir = project / ".opencode" / "orchestrator" / "sim"
    retries = 0
    async with (
        SimServer.running(state_dir, config=_CONFIG, directory=str(project)) as sim,
        OpenCodeClient(sim.base_url, directory=str(project)) as client,
        client.events() as stream,
        anyio.create_task_group() as tg,
    ):

        async def count_retries() -> None:
            nonlocal retries
            async for event in stream:
                if isinstance(event, SessionStatusEvent) and event.properties.status.type == (
                    "retry"
                ):
                    retries += 1

        with anyio.fail_after(10):
            await stream.subscribed()
        tg.start_soon(count_retries)
        say(f"  simulated OpenCode 1.18.33 API at {sim.base_url} (seed 42, no LLM)")
        root = await client.create_session(title="demo mission")
        plan = await client.prompt_structured(
            root.id, "Goal: a small demo change.", PlanOutput, agent=AGENT_PLANNER
        )
        units = plan.value.units
        say(
            f"  planner: {len(units)} units, "
            f"{sum(len(u.depends_on) for u in units)} dependencies "
            f"({plan.message.tokens.input:.0f} tokens in, cost ${plan.message.cost:.5f})"
        )
        written: list[str] = []
        for unit in units[:_WORKERS]:
            child = await client.create_session(title=f"unit {unit.id}", parent_id=root.id)
            report = await client.prompt_structured(
                child.id,
                f"Do this unit.\n{render_unit_brief(unit)}",
                WorkerReport,
                agent=AGENT_WORKER,
            )
            written.extend(report.value.files_changed)
            verdict = await client.prompt_structured(
                child.id,
                f"Review this unit.\n{render_unit_brief(unit)}",
                ReviewVerdict,
                agent=AGENT_REVIEWER,
            )
            say(
                f"  worker {unit.id}: {report.value.outcome}, "
                f"{len(report.value.files_changed)} file(s); reviewer: {verdict.value.verdict}"
            )
        storm = ScriptDirective(
            reply="answered after the rate limit", fault=Fault.RATE_LIMIT, fault_count=2
        )
        answer = await client.prompt(root.id, f"Report.\n{render_directive(storm)}", agent="build")
        children = await client.children(root.id)
        tg.cancel_scope.cancel()
    on_disk = [name for name in written if (project / name).is_file()]
    say(f"  a provider 429 twice: {retries} retry statuses seen, then {answer.text!r}")
    say(f"  {len(children)} child sessions; {len(on_disk)} of {len(written)} files on disk")
    return bool(written) and len(on_disk) == len(written)
