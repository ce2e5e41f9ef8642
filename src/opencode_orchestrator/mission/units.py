"""One unit, driven through its state machine: work, checks, review, fix, verify.

The runner is a loop over the unit's *journaled* state, one step per state, so
a resumed mission picks up a unit exactly where its log left it: an open turn
is adopted (never prompted twice), a recorded verdict is reused, a verified
unit is never touched again.

::

    READY      create the worker session, DISPATCHED, send the unit's brief
    DISPATCHED/ACCEPTED/RUNNING  follow (or adopt) the worker's turn, judge its answer
    REPORTED   run the unit's checks, then REVIEWING
    REVIEWING  final review (after the shadow review, in the same reviewer session)
    DELEGATED  return: the engine runs the sub-plan and brings the unit back

A worker turn that ends without a usable report is handled per the error
policy: context overflow → compact and continue (once), a tool error → one
recovery prompt, no report → one nudge, anything else → the attempt fails
and the unit goes back to READY for a fresh session (bounded by
``limits.max_attempts``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission import prompts
from opencode_orchestrator.mission.checks import (
    check_outcome,
    record_passed,
    record_view,
    run_checks,
)
from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.contracts import (
    AGENT_WORKER,
    Finding,
    ReviewVerdict,
    Verdict,
    WorkerOutcome,
    WorkerReport,
)
from opencode_orchestrator.mission.delegation import delegate
from opencode_orchestrator.mission.model import WORKER_KINDS, UnitModel
from opencode_orchestrator.mission.racing import finish_race, start_race
from opencode_orchestrator.mission.records import RecordType, TurnKind, TurnStatus
from opencode_orchestrator.mission.reviews import ShadowReview, review_turn
from opencode_orchestrator.mission.sessions import ensure_session
from opencode_orchestrator.mission.states import UnitState
from opencode_orchestrator.mission.turn_types import CONTEXT_OVERFLOW
from opencode_orchestrator.mission.turns import TurnOutcome, TurnRequest, follow_turn
from opencode_orchestrator.opencode.errors import OpenCodeError

__all__ = ["UnitRunner"]

_log = get_logger(__name__)
_U = UnitState
_NUDGED = "no report: nudged"


class UnitRunner:
    """Drives one unit until it is final or delegated."""

    def __init__(
        self, ctx: MissionContext, unit_id: str, *, priority: float, knowledge: str
    ) -> None:
        """Run ``unit_id`` of ``ctx``'s mission; ``priority`` orders its turns in the pool."""
        self.ctx = ctx
        self.unit_id = unit_id
        self.priority = priority
        self.knowledge = knowledge
        self.shadow: ShadowReview | None = None

    @property
    def unit(self) -> UnitModel:
        """The unit's current state."""
        return self.ctx.model.units[self.unit_id]

    async def transition(
        self, state: UnitState, reason: str = "", *, durable: bool = True, **extra: Any
    ) -> None:
        """Journal the unit's move to ``state`` (``durable``: see :meth:`Journal.write`)."""
        data: dict[str, Any] = {"unit": self.unit_id, "state": state.value, "reason": reason}
        data.update(extra)
        await self.ctx.journal.write(RecordType.UNIT_STATE, data, durable=durable)

    async def run(self) -> None:
        """Step until the unit is final or delegated (the engine resumes delegated units)."""
        async with anyio.create_task_group() as tg:
            self.shadow = ShadowReview(self, tg)
            while True:
                state = self.unit.state
                if state.final or (
                    state is _U.DELEGATED and not self.ctx.model.delegation_done(self.unit)
                ):
                    break
                await self._step(state)
            tg.cancel_scope.cancel()

    async def _step(self, state: UnitState) -> None:
        if state is _U.READY:
            await self._dispatch()
        elif state in (_U.DISPATCHED, _U.ACCEPTED, _U.RUNNING):
            await self._work()
        elif state is _U.REPORTED:
            await self._check()
        elif state is _U.REVIEWING:
            await self._review()
        elif state is _U.DELEGATED:
            await self._return_from_delegation()
        else:  # PENDING: the engine makes units READY; nothing to do here
            raise RuntimeError(f"unit {self.unit_id} stepped in state {state}")

    # -- READY ---------------------------------------------------------------------

    async def _dispatch(self) -> None:
        unit = self.unit
        limit = self.ctx.config.limits.max_attempts
        # Attempts whose answer a crash put out of reach are not the worker's
        # failures; they are bounded on their own so nothing loops forever.
        if unit.attempt - unit.lost >= limit or unit.lost > 2 * limit + 3:
            last = unit.failures[-1] if unit.failures else "no usable result"
            await self.transition(_U.FAILED, f"{unit.attempt} attempt(s) failed; last: {last}")
            return
        if await start_race(self):
            return
        attempt = unit.attempt + 1
        await ensure_session(self.ctx, unit, "worker", attempt)
        # The worker's turn.intent, durable, follows and carries it.
        await self.transition(_U.DISPATCHED, f"attempt {attempt}", durable=False, attempt=attempt)

    # -- worker turns --------------------------------------------------------------

    def _worker_text(self, kind: TurnKind) -> str:
        unit, spec, model = self.unit, self.unit.spec, self.ctx.model
        if kind is TurnKind.WORK:
            deps = {
                d: _summary(model.units[d].summary) for d in spec.depends_on if d in model.units
            }
            text = prompts.render_worker_prompt(
                spec,
                goal=model.goal,
                knowledge=self.knowledge,
                dependencies=deps,
                depth=unit.depth,
                max_depth=self.ctx.config.limits.max_depth,
                attempt=unit.attempt,
            )
            if unit.failures:
                text += "\n\nEarlier attempts of this unit failed:\n" + "\n".join(
                    f"- {f}" for f in unit.failures[-3:]
                )
            return text
        if kind is TurnKind.FIX:
            verdict = ReviewVerdict.model_validate(unit.verdict or {"verdict": "fail"})
            failed = [record_view(c) for c in unit.checks if not record_passed(c)]
            findings: list[Finding] = list(verdict.findings)
            return prompts.render_fix_prompt(spec, findings=findings, checks=failed)
        if kind is TurnKind.SUBUNITS_DONE:
            results = {c: _summary(model.units[c].summary) for c in unit.children}
            return prompts.render_subunits_done_prompt(spec, results=results)
        if kind is TurnKind.CONTINUE:
            return prompts.render_continue_prompt(spec)
        if kind is TurnKind.RECOVER:
            return prompts.render_recover_prompt(spec, error=unit.reason or "a tool failed")
        text = prompts.render_nudge_prompt(spec)
        if unit.reason and unit.reason != _NUDGED:
            text += f"\n\n{unit.reason}"  # a refused split: why, and what to do instead
        return text

    async def _work(self) -> None:
        unit = self.unit
        open_turns = [
            t for t in self.ctx.model.open_turns(self.unit_id) if t.effective_kind in WORKER_KINDS
        ]
        if open_turns:
            kind = open_turns[0].effective_kind
        else:
            kind = TurnKind(unit.next_turn) if unit.next_turn else TurnKind.WORK
        request = self._worker_request(kind, unit.sessions["worker"])
        # A worker turn that ended just before a crash is judged from the journal,
        # never prompted again.
        outcome = await follow_turn(self.ctx, request, WORKER_KINDS)
        await self._judge(outcome)

    def _worker_request(self, kind: TurnKind, session: str) -> TurnRequest:
        shadow = self.shadow

        async def accepted() -> None:
            if self.unit.state is _U.DISPATCHED:
                await self.transition(_U.ACCEPTED, durable=False, attempt=self.unit.attempt)

        return TurnRequest(
            session=session,
            kind=kind,
            text=self._worker_text(kind),
            agent=AGENT_WORKER,
            output=WorkerReport,
            role="worker",
            unit=self.unit_id,
            attempt=self.unit.attempt,
            priority=self.priority,
            directory=self.unit.directory,
            on_file=shadow.on_file if shadow is not None else None,
            on_accepted=accepted,
        )

    async def _judge(self, outcome: TurnOutcome) -> None:
        unit = self.unit
        if unit.state is _U.DISPATCHED:  # ended before any event was seen
            await self.transition(_U.ACCEPTED, durable=False, attempt=unit.attempt)
        report = _parse_report(outcome.answer)
        if outcome.status is TurnStatus.COMPLETED and report is not None:
            await self._accept_report(report)
            return
        if outcome.error_name == CONTEXT_OVERFLOW and "continue" not in unit.kinds:
            await self._compact(outcome)
            await self.transition(_U.RUNNING, "context overflow: compacted", next_turn="continue")
            return
        # A format prompt answered without the report ends in StructuredOutputError
        # (not COMPLETED): that is how a worker stopped by a failing tool looks too.
        no_report = outcome.status is TurnStatus.COMPLETED or (
            outcome.error_name == "StructuredOutputError"
        )
        if no_report and outcome.tool_errors:
            if "recover" not in unit.kinds:
                await self.transition(
                    _U.RUNNING, outcome.tool_errors[-1][:2000], next_turn="recover"
                )
                return
            await self.fail_attempt(f"tool error after recovery: {outcome.tool_errors[-1]}")
            return
        if no_report and "nudge" not in unit.kinds:
            await self.transition(_U.RUNNING, _NUDGED, next_turn="nudge")
            return
        why = outcome.error or ("no usable report" if no_report else outcome.status.value)
        await self.fail_attempt(f"{outcome.error_name or outcome.status.value}: {why}")

    async def _accept_report(self, report: WorkerReport) -> None:
        if report.outcome is WorkerOutcome.BLOCKED:
            await self.fail_attempt(f"worker blocked: {report.summary}")
            return
        # REPORTED and REVIEWING are not waited on: the review's durable turn.intent
        # carries them; lost in a crash, the worker's answer is judged again and the
        # checks run again.
        await self.transition(
            _U.REPORTED, report.summary[:500], durable=False, attempt=self.unit.attempt
        )
        if report.outcome is WorkerOutcome.SPLIT:
            await self._delegate_again()

    async def _delegate_again(self) -> str | None:
        """Delegate per the unit's split report; a refusal sends the worker back to work."""
        report = WorkerReport.model_validate(self.unit.report)
        problem = await delegate(self, report)
        if problem is not None:
            if TurnKind.NUDGE.value in self.unit.kinds:  # told once already: no endless loop
                await self.fail_attempt(f"split refused again: {problem}")
            else:
                await self.transition(_U.RUNNING, problem, next_turn="nudge")
        return problem

    async def fail_attempt(self, reason: str) -> None:
        """End the current attempt; the unit gets a fresh session (or fails when out of tries)."""
        _log.info("mission.unit.attempt_failed", unit=self.unit_id, reason=reason)
        await self.transition(_U.READY, reason[:2000])

    async def _compact(self, outcome: TurnOutcome) -> None:
        session = self.unit.sessions["worker"]
        client, _ = self.ctx.client_for(self.unit.directory)
        ref = self.ctx.model_for("worker")
        provider = outcome.provider or (ref.provider_id if ref else None)
        model = outcome.model or (ref.model_id if ref else None)
        if provider is None or model is None:
            _log.warning("mission.unit.compact_skipped", unit=self.unit_id, why="model unknown")
            return
        try:
            await client.summarize(session, provider_id=provider, model_id=model)
        except OpenCodeError as exc:
            _log.warning("mission.unit.compact_failed", unit=self.unit_id, error=str(exc))

    # -- checks and review -----------------------------------------------------------

    async def _check(self) -> None:
        unit = self.unit
        if unit.report and unit.report.get("outcome") == "split" and not unit.children:
            # Delegated, or refused and sent back to work: either way nothing to check yet.
            await self._delegate_again()
            return
        cwd = self.ctx.project if unit.directory is None else Path(unit.directory)
        evidence = await run_checks(
            unit.spec.checks, cwd=cwd, timeout=self.ctx.config.timeouts.check
        )
        for item in evidence:
            # Carried to the disk, with REVIEWING, by the review's durable turn.intent;
            # lost before it, the worker's answer is judged again and the checks rerun.
            await self.ctx.journal.write(
                RecordType.CHECK_RESULT, item.to_record(self.unit_id), durable=False
            )
        await self.transition(_U.REVIEWING, f"round {unit.rounds}", durable=False)

    async def _review(self) -> None:
        unit = self.unit
        if unit.verdict is None or unit.review_round != unit.rounds:
            if self.shadow is not None:
                await self.shadow.wait()
            await review_turn(self, shadow=False)
        unit = self.unit
        verdict = ReviewVerdict.model_validate(unit.verdict or {"verdict": "fail"})
        checks_ok = all(record_passed(c) for c in unit.checks)
        if verdict.verdict is Verdict.PASS and checks_ok:
            await self.transition(_U.VERIFIED, "review passed, checks exit 0")
            return
        why = "review failed" if verdict.verdict is Verdict.FAIL else "checks failed"
        if unit.rounds >= self.ctx.config.limits.max_attempts:
            await self.transition(
                _U.FAILED, f"{why} after {unit.rounds} round(s): {_evidence(unit)}"
            )
            return
        await self.transition(_U.RUNNING, why, next_turn="fix")

    async def _return_from_delegation(self) -> None:
        if self.ctx.model.is_race(self.unit):
            await finish_race(self)
            return
        units = self.ctx.model.units
        failed = [c for c in self.unit.children if units[c].state is not _U.VERIFIED]
        if failed:
            await self.transition(_U.FAILED, f"sub-unit(s) not verified: {', '.join(failed)}")
            return
        await self.transition(_U.RUNNING, "sub-units verified", next_turn="subunits_done")


def _parse_report(answer: dict[str, Any] | None) -> WorkerReport | None:
    if answer is None:
        return None
    try:
        return WorkerReport.model_validate(answer)
    except ValidationError:
        return None


def _summary(summary: str | None) -> str:
    # The summary, not the report: a finished unit no longer holds its report.
    return "(no report)" if summary is None else summary[:1000]


def _evidence(unit: UnitModel) -> str:
    parts: list[str] = []
    if unit.verdict:
        findings = unit.verdict.get("findings", [])
        parts.extend(str(f.get("message", f)) for f in findings[:3])
    parts.extend(
        f"`{c['command']}` {check_outcome(c)}" for c in unit.checks if not record_passed(c)
    )
    return "; ".join(parts)[:1500] or "no detail"
