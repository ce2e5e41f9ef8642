"""Unit reviews: the shadow review that starts on the first file, and the final one.

The shadow review starts as soon as the worker's turn completes its first
``write``/``edit`` tool call, in the unit's reviewer session, while the worker
goes on. On the worker's report the final review runs in the *same* reviewer
session (after the shadow turn ended), so it re-reviews with what it already
saw. Only the final verdict decides; the shadow verdict is recorded as evidence.

A reviewer that gives no usable verdict is asked again once; after that the
unit gets a failing verdict that says so, never a silent pass. The master
review (:mod:`~opencode_orchestrator.mission.integration`) asks the same way
but treats no verdict as no verdict: :class:`NoVerdict` is not findings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from pydantic import ValidationError

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission import prompts
from opencode_orchestrator.mission.checks import record_view
from opencode_orchestrator.mission.contracts import (
    AGENT_REVIEWER,
    Finding,
    ReviewVerdict,
    Severity,
    Verdict,
)
from opencode_orchestrator.mission.records import RecordType, TurnKind, TurnStatus
from opencode_orchestrator.mission.sessions import ensure_session
from opencode_orchestrator.mission.turn_types import CONTEXT_OVERFLOW, TurnOutcome
from opencode_orchestrator.mission.turns import TurnRequest, follow_turn
from opencode_orchestrator.opencode.errors import OpenCodeError

if TYPE_CHECKING:
    from opencode_orchestrator.mission.context import MissionContext
    from opencode_orchestrator.mission.model import UnitModel
    from opencode_orchestrator.mission.units import UnitRunner

__all__ = ["NoVerdict", "ShadowReview", "ask_verdict", "parse_verdict", "review_turn"]

_log = get_logger(__name__)
_TRIES = 2


def parse_verdict(answer: dict[str, Any] | None, error: str | None) -> ReviewVerdict | None:
    """The reviewer's verdict, or ``None`` if the answer is not one."""
    if answer is None:
        return None
    try:
        return ReviewVerdict.model_validate(answer)
    except ValidationError:
        return None


class _SupersededReview(Exception):  # noqa: N818 - control flow inside this module, never raised out
    """The unit went on to a new attempt while a review of the old one ran.

    Only a shadow review can meet it: it runs beside the worker, whose lost
    turn may start a new attempt meanwhile (seen after a resume, in the crash
    campaign). Its verdict would belong to no attempt, so it ends unrecorded.
    """


def _check_current(unit: UnitModel, attempt: int) -> None:
    if unit.attempt != attempt:
        raise _SupersededReview(f"unit {unit.id}: attempt {attempt} was superseded")


@dataclass(frozen=True, slots=True)
class NoVerdict:
    """A reviewer gave no usable verdict, asked as often as :func:`ask_verdict` asks."""

    who: str
    """Who was asked (``reviewer``, ``master reviewer``)."""
    error: str
    """Why its last turn gave none: the error's name and text, or ``no verdict``."""
    tries: int

    def failing(self) -> ReviewVerdict:
        """A failing verdict whose one finding says why: never a silent pass."""
        message = f"{self.who} failed: {self.error}"
        return ReviewVerdict(
            verdict=Verdict.FAIL, findings=[Finding(severity=Severity.BLOCKER, message=message)]
        )


async def ask_verdict(
    ctx: MissionContext,
    request: Callable[[TurnOutcome | None], Awaitable[TurnRequest]],
    *,
    who: str,
) -> ReviewVerdict | NoVerdict:
    """Run (or adopt) review turns until one gives a verdict; journals nothing.

    ``request`` makes each turn's request, given the previous turn's outcome
    (``None`` for the first); it may raise to stop, and it takes the session
    each time, so a session found gone is replaced. A turn whose answer is no
    verdict (an error, an invalid answer) is asked again once; a lost one (out
    of reach after a crash) does not count, up to a bound. With no verdict
    after that, :class:`NoVerdict`, for the caller to decide what it means.
    """
    error = "no answer"
    tries = lost = 0
    previous: TurnOutcome | None = None
    while tries < _TRIES and lost <= _TRIES * 3:
        outcome = previous = await follow_turn(ctx, await request(previous))
        verdict = parse_verdict(outcome.answer, outcome.error)
        if verdict is not None:
            return verdict
        if outcome.status is TurnStatus.LOST:
            lost += 1  # out of reach after a crash: ask again, not the reviewer's fault
        else:
            tries += 1
        error = f"{outcome.error_name or outcome.status.value}: {outcome.error or 'no verdict'}"
    return NoVerdict(who, error, tries)


async def review_turn(runner: UnitRunner, *, shadow: bool) -> ReviewVerdict:
    """Run (or adopt) a review turn of the runner's unit and journal its verdict."""
    ctx = runner.ctx
    unit = runner.unit
    kind = TurnKind.SHADOW_REVIEW if shadow else TurnKind.REVIEW
    attempt = unit.attempt
    report = None if shadow else unit.report

    sessions: list[str] = []

    async def request(previous: TurnOutcome | None) -> TurnRequest:
        _check_current(unit, attempt)
        if previous is not None and previous.error_name == CONTEXT_OVERFLOW:
            # The session holds what did not fit (the shadow review's turns too): asked
            # there again, it overflows again; a new reviewer session starts afresh.
            ctx.gone_sessions.add(sessions[-1])
        sessions.append(await ensure_session(ctx, unit, "reviewer", attempt))
        return TurnRequest(
            session=sessions[-1],
            kind=kind,
            text=prompts.render_reviewer_prompt(
                unit.spec,
                goal=ctx.model.goal,
                knowledge=runner.knowledge,
                report=str(report.get("summary", "")) if report else None,
                files_changed=list((report or {}).get("files_changed", [])) or unit.spec.files,
                shadow=shadow,
                checks=[record_view(c) for c in unit.checks],
            ),
            agent=AGENT_REVIEWER,
            output=ReviewVerdict,
            role="reviewer",
            unit=unit.id,
            attempt=attempt,
            priority=runner.priority + 0.5,
            directory=unit.directory,
        )

    asked = await ask_verdict(ctx, request, who="reviewer")
    # A unit's review without a verdict fails the round, and the unit's attempts bound it.
    verdict = asked.failing() if isinstance(asked, NoVerdict) else asked
    _check_current(unit, attempt)
    # Not waited on: the unit's decision on it is a durable state that follows; lost
    # in a crash, it is taken again from the review turn's answer.
    await ctx.journal.write(
        RecordType.REVIEW_VERDICT,
        {
            "unit": unit.id,
            "shadow": shadow,
            "round": runner.unit.rounds,
            "verdict": verdict.model_dump(mode="json"),
        },
        durable=False,
    )
    return verdict


class ShadowReview:
    """Starts one shadow review per attempt, on the worker's first written file."""

    def __init__(self, runner: UnitRunner, tg: TaskGroup) -> None:
        """Review ``runner``'s unit in ``tg`` (the unit runner's task group)."""
        self._runner = runner
        self._tg = tg
        self._attempt = -1
        self._done: anyio.Event | None = None
        """Set when the newest shadow review ended (``None``: none was started)."""
        open_turns = runner.ctx.model.open_turns(runner.unit_id)
        if any(t.effective_kind is TurnKind.SHADOW_REVIEW for t in open_turns):
            self._start()  # adopt the one in flight before the crash

    def on_file(self, path: str) -> None:
        """The worker wrote ``path``: start the shadow review if this attempt has none yet."""
        unit = self._runner.unit
        if not self._runner.ctx.config.shadow_review or self._attempt == unit.attempt:
            return
        if TurnKind.SHADOW_REVIEW.value in unit.kinds:
            return  # already reviewed in this attempt (before a crash)
        self._start()

    def _start(self) -> None:
        self._attempt = self._runner.unit.attempt
        self._done = anyio.Event()
        self._tg.start_soon(self._run)

    async def _run(self) -> None:
        try:
            await review_turn(self._runner, shadow=True)
        except OpenCodeError as exc:  # a shadow review is advisory; the final one decides
            _log.warning("mission.shadow_review.failed", unit=self._runner.unit_id, error=str(exc))
        except _SupersededReview as exc:
            _log.info("mission.shadow_review.superseded", unit=self._runner.unit_id, why=str(exc))
        finally:
            assert self._done is not None  # made by _start
            self._done.set()

    async def wait(self) -> None:
        """Until the shadow review of this attempt (if any) has ended."""
        if self._done is not None:  # None: none started (shadow review off, no file written)
            await self._done.wait()
