"""Planning and the integration phase: the plan, the master review, the seal.

Planning: the planner's structured plan is validated
(:func:`~opencode_orchestrator.mission.plan.validate_plan`); an invalid one goes
back to the same planner session with the problems, at most
``limits.plan_retries`` times. Units of later iterations are namespaced
(``i2-<id>``) so they can never collide with earlier ones.

Integration: the mission checks run in the project, the master reviewer sees
the whole diff and their evidence. The mission is sealed only when code has
verified every condition (every unit verified, every check exit 0, master
verdict pass). Otherwise the findings are planned as new work, unless the same
findings and the same diff were seen before (no progress → BLOCKED) or the
iteration cap is reached (FAILED).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission import prompts
from opencode_orchestrator.mission.checks import record_passed, record_view, run_checks
from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.contracts import (
    AGENT_MASTER_REVIEWER,
    AGENT_PLANNER,
    PlanOutput,
    ReviewVerdict,
    UnitSpec,
    Verdict,
)
from opencode_orchestrator.mission.delegation import namespaced
from opencode_orchestrator.mission.errors import PlanInvalidError, ReviewUnavailableError
from opencode_orchestrator.mission.model import UnitModel
from opencode_orchestrator.mission.plan import validate_plan
from opencode_orchestrator.mission.records import RecordType, TurnKind, TurnStatus
from opencode_orchestrator.mission.reviews import NoVerdict, ask_verdict
from opencode_orchestrator.mission.sessions import ensure_session
from opencode_orchestrator.mission.states import UnitState
from opencode_orchestrator.mission.turn_types import CONTEXT_OVERFLOW
from opencode_orchestrator.mission.turns import TurnOutcome, TurnRequest, follow_turn
from opencode_orchestrator.mission.worktrees import diff_fingerprint, project_diff

__all__ = ["IntegrationResult", "integrate", "plan"]

_log = get_logger(__name__)


async def _turn(ctx: MissionContext, request: TurnRequest) -> TurnOutcome:
    return await follow_turn(ctx, request)


async def plan(ctx: MissionContext, goal: str, *, knowledge: str) -> str | None:
    """Ask the planner and journal a valid plan; or return why planning failed."""
    model = ctx.model
    iteration = model.iteration
    if len(model.units) >= ctx.config.limits.max_units:
        # Every plan would be refused for its size: asking is only spent tokens.
        return (
            f"no room for iteration {iteration}'s plan: the mission has {len(model.units)} "
            f"units, limits.max_units is {ctx.config.limits.max_units}"
        )
    existing = [u.spec for u in model.units.values()]
    problems: list[str] = []
    checks = [*ctx.config.checks]
    tries = lost = 0
    while tries <= ctx.config.limits.plan_retries and lost <= 10:
        text = prompts.render_planner_prompt(
            goal,
            knowledge=knowledge,
            max_units=ctx.config.limits.max_units - len(model.units),
            mission_checks=checks,
            problems=problems,
            existing=existing,
        )
        request = TurnRequest(
            session=await ensure_session(ctx, None, "planner", iteration),
            kind=TurnKind.PLAN,
            text=text,
            agent=AGENT_PLANNER,
            output=PlanOutput,
            role="planner",
            attempt=iteration,
            priority=1e9,
        )
        outcome = await _turn(ctx, request)
        if outcome.status is TurnStatus.LOST:
            lost += 1  # out of reach after a crash: ask again, not a planner mistake
            continue
        tries += 1
        try:
            output = PlanOutput.model_validate(outcome.answer or {})
        except ValidationError as exc:
            problems = [f"the answer is not a plan: {e['loc']}: {e['msg']}" for e in exc.errors()]
            if outcome.answer is None:
                problems = [f"no plan was returned ({outcome.error or outcome.status.value})"]
            continue
        units = list(output.units)
        if iteration > 1:
            units = namespaced(f"i{iteration}", units, set(model.units))
            units = [u.model_copy(update={"id": u.id.replace(".", "-", 1)}) for u in units]
            units = _rename_deps(units, iteration)
        try:
            validate_plan(
                PlanOutput(summary=output.summary, units=units, checks=output.checks),
                max_units=ctx.config.limits.max_units - len(model.units),
                existing_ids=set(model.units),
            )
        except PlanInvalidError as exc:
            problems = exc.problems
            _log.info("mission.plan.invalid", problems=problems[:5])
            continue
        await ctx.journal.write(
            RecordType.PLAN_ACCEPTED,
            {
                "iteration": iteration,
                "summary": output.summary,
                "units": [u.model_dump(mode="json") for u in units],
                "checks": output.checks,
                "learnings": output.learnings,
            },
        )
        return None
    return "no valid plan after retries: " + "; ".join(problems[:5])


def _rename_deps(units: list[UnitSpec], iteration: int) -> list[UnitSpec]:
    dotted, dashed = f"i{iteration}.", f"i{iteration}-"
    return [
        u.model_copy(update={"depends_on": [d.replace(dotted, dashed, 1) for d in u.depends_on]})
        for u in units
    ]


@dataclass(frozen=True, slots=True)
class IntegrationResult:
    """What the integration phase decided."""

    sealed: bool
    evidence: dict[str, Any]
    findings: list[str]
    fingerprint: str


async def integrate(ctx: MissionContext, *, knowledge: str) -> IntegrationResult:
    """Run the mission checks and the master review; journal the evidence."""
    model = ctx.model
    commands = list(dict.fromkeys([*ctx.config.checks, *model.mission_checks]))
    if len(model.check_results) < len(commands):
        ran = await run_checks(commands, cwd=ctx.project, timeout=ctx.config.timeouts.check)
        for item in ran:
            await ctx.journal.write(RecordType.CHECK_RESULT, item.to_record(None))
    checks = model.check_results
    checks_ok = all(record_passed(c) for c in checks)
    units = list(model.units.values())
    # Losing racing strategies (and what they split into) end CANCELLED by design;
    # the state of the unit they raced for decides.
    unverified = [u for u in model.planned_units() if u.state is not UnitState.VERIFIED]
    verified = not unverified
    if len(model.master_verdicts) >= model.iteration and model.fingerprints:
        # This iteration's verdict was journaled before a crash that came before the
        # mission acted on it: taken as it stands, the master is not asked again.
        verdict = ReviewVerdict.model_validate(model.master_verdicts[-1])
        findings = [f.message for f in verdict.findings]
        fingerprint = model.fingerprints[-1]
    else:
        verdict, findings, fingerprint = await _review_whole(ctx, knowledge, checks, units)
    sealed = verified and checks_ok and verdict.verdict is Verdict.PASS
    failed_checks = [c["command"] for c in checks if not record_passed(c)]
    findings.extend(f"check failed: `{c}`" for c in failed_checks)
    findings.extend(f"unit {u.id} ended {u.state.value}: {u.reason[:200]}" for u in unverified)
    evidence = {
        "iteration": model.iteration,
        "units": {u.id: u.state.value for u in units},
        "checks": [
            {"command": c["command"], "exit_code": c["exit_code"], "tail": c["output_tail"][-500:]}
            for c in checks
        ],
        "master_verdict": verdict.model_dump(mode="json"),
        "all_units_verified": verified,
        "all_checks_passed": checks_ok,
    }
    return IntegrationResult(sealed, evidence, findings, fingerprint)


async def _review_whole(
    ctx: MissionContext, knowledge: str, checks: list[dict[str, Any]], units: list[UnitModel]
) -> tuple[ReviewVerdict, list[str], str]:
    """The master's verdict on the whole change, journaled with its fingerprint."""
    model = ctx.model
    diff = await project_diff(ctx.project)
    if len([u for u in units if u.parent is None and u.race_of is None]) <= 1:
        # One unit: its own review was the review; no ceremony.
        verdict = ReviewVerdict(verdict=Verdict.PASS)
    else:
        verdict = await _master(ctx, knowledge=knowledge, diff=diff, checks=checks)
    findings = [f.message for f in verdict.findings]
    fingerprint = hashlib.sha256(
        orjson.dumps(sorted(findings)) + (await diff_fingerprint(ctx.project)).encode()
    ).hexdigest()
    await ctx.journal.write(
        RecordType.REVIEW_VERDICT,
        {
            "unit": None,
            "round": model.iteration,
            "verdict": verdict.model_dump(mode="json"),
            "fingerprint": fingerprint,
        },
    )
    return verdict, findings, fingerprint


async def _master(
    ctx: MissionContext, *, knowledge: str, diff: str, checks: list[dict[str, Any]]
) -> ReviewVerdict:
    model = ctx.model
    summaries = [(u.spec, u.summary or "") for u in model.units.values()]

    def render(diff: str) -> str:
        return prompts.render_master_prompt(
            model.goal,
            knowledge=knowledge,
            units=summaries,
            diff=diff,
            checks=[record_view(c) for c in checks],
        )

    text = render(diff)

    async def request(previous: TurnOutcome | None) -> TurnRequest:
        nonlocal text, diff
        if previous is not None and previous.error_name == CONTEXT_OVERFLOW:
            # The prompt did not fit: asked again in a new session (the old one holds
            # the prompt that overflowed) with a quarter of the diff.
            ctx.gone_sessions.add(await ensure_session(ctx, None, "master", model.iteration))
            diff = await project_diff(ctx.project, max_chars=max(len(diff) // 4, 2_000))
            text = render(diff)
        return TurnRequest(
            session=await ensure_session(ctx, None, "master", model.iteration),
            kind=TurnKind.MASTER_REVIEW,
            text=text,
            agent=AGENT_MASTER_REVIEWER,
            output=ReviewVerdict,
            role="master",
            attempt=model.iteration,
            priority=1e9,
        )

    # A master review without a verdict (a provider error, an invalid answer) is asked
    # again once; after that it is no verdict, not findings: findings would start a
    # whole iteration of work that cannot fix a provider's error.
    asked = await ask_verdict(ctx, request, who="master reviewer")
    if isinstance(asked, NoVerdict):
        raise ReviewUnavailableError(
            f"the master review gave no verdict, asked {asked.tries} times "
            f"({asked.error}); the mission stopped before deciding: resume it to ask again"
        )
    return asked
