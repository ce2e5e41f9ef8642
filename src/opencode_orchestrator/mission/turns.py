"""One prompt in one child session, from intent to a recorded end: never waits forever.

::

    reserve budget ─► acquire slot ─► turn.intent ─► prompt_async ─► turn.accepted
          (first event of the turn) ─► turn.message (assistant id) ─► ... ─► turn.ended

Liveness: events refresh the turn's heartbeat. Silence longer than
``timeouts.silence`` (or a stream reconnect) makes the turn probe
``GET /session/status``; an idle session has its result read back by message
id. No progress for ``timeouts.unit`` aborts the session (``TIMEOUT``). The
slot is released exactly once: as soon as the session is seen idle, or in
``finally`` however else the turn ends.

Adoption after a crash uses the same loop without sending: an intent never
accepted is checked with ``GET /session/:id/message/:messageID`` (404: the
prompt never arrived, so it is sent now with the same message id).

This module decides what is sent (a new turn, an adopted one, a restatement);
the loop that drives a turn is :mod:`~opencode_orchestrator.mission.turn_loop`,
how its end is read and journaled :mod:`~opencode_orchestrator.mission.turn_end`,
and the request and outcome :mod:`~opencode_orchestrator.mission.turn_types`.
"""

from __future__ import annotations

import dataclasses
import math
import re

from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.model import TurnModel
from opencode_orchestrator.mission.pool import Slot
from opencode_orchestrator.mission.records import RecordType, TurnKind, TurnStatus
from opencode_orchestrator.mission.turn_loop import drive_turn
from opencode_orchestrator.mission.turn_types import INTERRUPTED, TurnOutcome, TurnRequest
from opencode_orchestrator.opencode.ids import new_message_id

__all__ = ["TurnOutcome", "TurnRequest", "adopt_turn", "follow_turn", "run_turn"]


async def run_turn(ctx: MissionContext, request: TurnRequest) -> TurnOutcome:
    """Send one prompt and follow it to its end; every step is journaled first.

    Raises:
        BudgetExceededError: the turn's reservation does not fit the budget.
        WalError: the journal failed.
    """
    reservation = await ctx.budget.reserve_when_it_fits()
    message_id = new_message_id()
    try:
        async with await _slot(ctx, request) as slot:
            await ctx.journal.write(
                RecordType.TURN_INTENT,
                {
                    "turn": message_id,
                    "session": request.session,
                    "message": message_id,
                    "kind": request.kind.value,
                    "unit": request.unit,
                    "attempt": request.attempt,
                    "restates": request.restates.value if request.restates else None,
                },
            )
            turn = ctx.model.turns[message_id]
            outcome = await drive_turn(ctx, request, turn, slot, send=True)
    finally:
        reservation.release()
    return outcome


async def follow_turn(
    ctx: MissionContext, request: TurnRequest, kinds: frozenset[TurnKind] | None = None
) -> TurnOutcome:
    """The outcome of ``request``'s turn, doing only what the journal says is left.

    A turn of one of ``kinds`` (default: the request's kind) for the same unit
    that ended but was not acted on before a crash is *not* sent again: its
    journaled outcome is returned. One still open is adopted. Otherwise the
    request is sent.
    """
    kinds = kinds or frozenset({request.kind})
    model = ctx.model
    pending = model.units[request.unit].pending if request.unit else model.pending
    for kind in kinds:
        if kind.value in pending:
            # Consumed here; were the core to die before acting on it, replay
            # restores it and the same decision is taken again.
            return TurnOutcome.from_record(pending.pop(kind.value))
    for turn in model.open_turns(request.unit):
        if turn.effective_kind in kinds and turn.unit == request.unit:
            original = turn.effective_kind
            if turn.kind is TurnKind.RESTATE:
                outcome = await adopt_turn(ctx, turn, _restatement(request, original))
            else:
                outcome = await adopt_turn(ctx, turn, request)
            break
    else:
        original = request.kind
        outcome = await run_turn(ctx, request)
    restated = 0
    while (
        outcome.status is TurnStatus.LOST and restated < _RESTATES and not _superseded(ctx, request)
    ):
        restated += 1
        if outcome.error_name == INTERRUPTED:
            # Cut off mid-answer (OpenCode stopped): there is nothing to repeat,
            # so the same session is asked the same thing again, told why.
            again = _asked_again(request, original)
        else:
            # The turn ended while we could not see it and OpenCode 1.18 cannot
            # list a format session's messages: ask the same session to repeat
            # its answer (no new work) rather than redo the unit afresh.
            again = _restatement(request, original)
        outcome = await run_turn(ctx, again)
    for kind in kinds:
        pending.pop(kind.value, None)  # in the caller's hands now
    return outcome


def _superseded(ctx: MissionContext, request: TurnRequest) -> bool:
    """Whether ``request``'s unit went on to a new attempt: nothing is asked for an old one."""
    return request.unit is not None and ctx.model.units[request.unit].attempt != request.attempt


_RESTATES = 2
_UNIT_BRIEF = re.compile(r"<unit>.*?</unit>", re.DOTALL)
_RESTATE_TEXT = (
    "Your previous answer in this session did not reach the orchestrator (it was "
    "restarted while you answered). Do not redo or change any work: answer again with "
    "the same final structured output you gave."
)


_CUT_OFF_TEXT = (
    "Your previous answer to the request below was cut off before it was finished (OpenCode "
    "was restarted). Look at what you already did in this session, carry on from there "
    "without redoing finished steps, and end with the final structured output it asks for."
)


def _asked_again(request: TurnRequest, original: TurnKind) -> TurnRequest:
    return dataclasses.replace(
        request,
        kind=TurnKind.RESTATE,
        restates=original,
        text=f"{_CUT_OFF_TEXT}\n\n{request.text}",
    )


def _restatement(request: TurnRequest, original: TurnKind) -> TurnRequest:
    brief = _UNIT_BRIEF.search(request.text)
    text = _RESTATE_TEXT if brief is None else f"{brief.group(0)}\n\n{_RESTATE_TEXT}"
    return dataclasses.replace(
        request, kind=TurnKind.RESTATE, restates=original, text=text, on_file=None
    )


async def adopt_turn(ctx: MissionContext, turn: TurnModel, request: TurnRequest) -> TurnOutcome:
    """Follow a turn journaled before a crash to its end, sending it only if it never arrived.

    Its slot comes before any new turn's: the turn is most likely running on the
    server already, and until it is adopted its result waits unread.
    """
    async with await _slot(ctx, request, priority=math.inf) as slot:
        return await drive_turn(ctx, request, turn, slot, send=False)


async def _slot(
    ctx: MissionContext, request: TurnRequest, *, priority: float | None = None
) -> Slot:
    provider = ctx.provider_for(request.role)
    ref = ctx.model_for(request.role)
    return await ctx.pool.acquire(
        f"{request.unit or 'mission'}:{request.kind.value}",
        priority=request.priority if priority is None else priority,
        provider=provider,
        model=ref.model_id if ref is not None else None,
    )
