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
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from pydantic import BaseModel

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.config import PermissionPolicy
from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.errors import BudgetExceededError
from opencode_orchestrator.mission.model import TurnModel
from opencode_orchestrator.mission.pool import Slot
from opencode_orchestrator.mission.records import RecordType, TurnKind, TurnStatus
from opencode_orchestrator.mission.transient import TRANSIENT_ERRORS, ride_out
from opencode_orchestrator.mission.watch import TurnWatch
from opencode_orchestrator.opencode.client import OpenCodeClient
from opencode_orchestrator.opencode.errors import (
    OpenCodeBadRequestError,
    OpenCodeError,
    OpenCodeNotFoundError,
)
from opencode_orchestrator.opencode.ids import new_message_id
from opencode_orchestrator.opencode.models import (
    AssistantMessage,
    PermissionReply,
    PermissionRequest,
)
from opencode_orchestrator.opencode.structured import json_schema_format

__all__ = ["TurnOutcome", "TurnRequest", "adopt_turn", "follow_turn", "run_turn"]

_log = get_logger(__name__)

# The format body of each output model, built once: pydantic generates the JSON
# schema afresh on every call, 0.6-0.9 ms of CPU (1.5-2 ms a unit). Callers only
# read (serialise) the body.
_output_format = functools.cache(json_schema_format)


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """What to send, to whom, and what answer to expect."""

    session: str
    kind: TurnKind
    text: str
    agent: str
    output: type[BaseModel] | None
    role: str
    unit: str | None = None
    attempt: int = 0
    priority: float = 0.0
    directory: str | None = None
    on_file: Callable[[str], None] | None = None
    """Called (on the turn's task) with each file the turn writes, first one first."""
    on_accepted: Callable[[], Awaitable[None]] | None = None
    """Awaited once, right after ``turn.accepted`` is journaled."""
    restates: TurnKind | None = None


@dataclass(slots=True)
class TurnOutcome:
    """How a turn ended and what it produced."""

    status: TurnStatus
    answer: dict[str, Any] | None = None
    error: str | None = None
    error_name: str | None = None
    tokens: int = 0
    cost: float = 0.0
    tool_errors: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    provider: str | None = None
    model: str | None = None
    """The provider and model that answered (needed to compact the session)."""

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> TurnOutcome:
        """The outcome a ``turn.ended`` payload journaled."""
        return cls(
            TurnStatus(data["status"]),
            answer=data.get("answer"),
            error=data.get("error"),
            error_name=data.get("error_name"),
            tokens=int(data.get("tokens", 0)),
            cost=float(data.get("cost", 0.0)),
            tool_errors=list(data.get("tool_errors", [])),
        )

    def record(self, turn_id: str) -> dict[str, Any]:
        """The ``turn.ended`` payload."""
        return {
            "turn": turn_id,
            "status": self.status.value,
            "tokens": self.tokens,
            "cost": self.cost,
            "error": self.error,
            "error_name": self.error_name,
            "answer": self.answer,
            "tool_errors": self.tool_errors,
        }


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
            outcome = await _drive(ctx, request, turn, slot, send=True)
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
        if outcome.error_name == _INTERRUPTED:
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


_INTERRUPTED = "Interrupted"
_SESSION_GONE = "SessionGone"
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
        return await _drive(ctx, request, turn, slot, send=False)


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


async def _drive(
    ctx: MissionContext, request: TurnRequest, turn: TurnModel, slot: Slot, *, send: bool
) -> TurnOutcome:
    client, router = ctx.client_for(request.directory)
    watch = TurnWatch(request.session, turn.message)
    router.listen(request.session, watch)
    timeouts = ctx.config.timeouts
    provider = ctx.provider_for(request.role)
    seen_files = 0
    rate_limits = 0
    accepted = False
    try:
        patience = timeouts.server_patience

        def limited() -> None:
            ctx.pool.on_rate_limited(provider)

        try:
            if send:
                await ride_out(
                    lambda: _send(ctx, client, request, turn.message),
                    what="prompt_async",
                    patience=patience,
                    on_rate_limited=limited,
                    # It may have arrived before the error: send again only if not.
                    retry=lambda: _resend_if_lost(ctx, client, request, turn),
                )
            else:
                await ride_out(
                    lambda: _resend_if_lost(ctx, client, request, turn),
                    what="prompt_async",
                    patience=patience,
                    on_rate_limited=limited,
                )
                watch.reconnected = watch.resynced = True  # probe at once: it may have ended
        except OpenCodeNotFoundError as exc:
            # The session is gone (deleted in OpenCode, or OpenCode lost its data):
            # this turn cannot run; the next one of its role gets a new session.
            ctx.gone_sessions.add(request.session)
            _log.warning("mission.turn.session_gone", session=request.session, error=str(exc))
            gone = _failed(_SESSION_GONE, f"session {request.session} is gone: {exc}", watch)
            return await _end(ctx, turn, watch, gone)
        deadline_base = time.monotonic()
        while True:
            if watch.accepted_by is not None and not accepted:
                accepted = True
                if not turn.accepted:
                    await ctx.journal.write(
                        RecordType.TURN_ACCEPTED,
                        {"turn": turn.id, "event": watch.accepted_by},
                        durable=False,  # a resumed core probes the turn anyway
                    )
                if request.on_accepted is not None:
                    await request.on_accepted()
            last = watch.last_assistant
            if last is not None and turn.assistant_message != last.id:
                # Every new assistant message of the turn, not only the first: the
                # answer is in the last one, and after a crash it can only be read
                # back by id.
                # Not waited on: only a resumed core reads it, and any prompt sent
                # later follows a durable turn.intent that carries it to the disk.
                await ctx.journal.write(
                    RecordType.TURN_MESSAGE, {"turn": turn.id, "message": last.id}, durable=False
                )
            while watch.permissions:
                await _answer_permission(ctx, client, watch.permissions.pop(0))
            while seen_files < len(watch.files):
                if request.on_file is not None:
                    request.on_file(watch.files[seen_files])
                seen_files += 1
            if watch.rate_limits > rate_limits:
                rate_limits = watch.rate_limits
                ctx.pool.on_rate_limited(provider)
            breach = _breach(ctx, watch)
            if breach is not None:
                # Enforced while running: the turn is stopped, its usage so far counted.
                await _abort(client, request.session, timeouts.abort_grace)
                await _end(
                    ctx,
                    turn,
                    watch,
                    _failed("BudgetExceeded", str(breach), watch, TurnStatus.ABORTED),
                )
                raise breach
            if watch.done:
                break
            if watch.reconnected:
                watch.reconnected = False
                idle = await ride_out(
                    lambda: _probe(ctx, client, watch, turn),
                    what="session_status",
                    patience=patience,
                )
                if idle:
                    break
                continue
            watch.rearm()
            quiet_for = time.monotonic() - max(watch.last_activity, deadline_base)
            if quiet_for >= timeouts.unit:
                await _abort(client, request.session, timeouts.abort_grace)
                outcome = TurnOutcome(
                    TurnStatus.TIMEOUT,
                    error=f"no progress for {timeouts.unit:g} s",
                    error_name="Timeout",
                )
                return await _end(ctx, turn, watch, outcome)
            with anyio.move_on_after(min(timeouts.silence, timeouts.unit - quiet_for)):
                await watch.changed.wait()
            if not watch.changed.is_set():
                watch.reconnected = watch.resynced = True  # silence: probe the session
        # The session is idle: its capacity goes to the next turn now, not after the
        # read-back and the durable turn.ended (a few ms of every turn's slot time).
        slot.release()
        outcome = await ride_out(
            lambda: _collect(client, watch, turn), what="read_back", patience=patience
        )
        if outcome.status is TurnStatus.COMPLETED and watch.rate_limits == 0:
            ctx.pool.on_success(provider)
        return await _end(ctx, turn, watch, outcome)
    except anyio.get_cancelled_exc_class():
        # Cancelled mid-turn (a budget breach elsewhere, a cancel): keep what the
        # turn spent so far, so the engine can journal it when it closes the turn.
        ctx.unrecorded_usage[turn.id] = watch.usage()
        raise
    finally:
        router.forget(request.session, watch)


async def _send(
    ctx: MissionContext, client: OpenCodeClient, request: TurnRequest, message_id: str
) -> None:
    await client.prompt_async(
        request.session,
        request.text,
        agent=request.agent,
        model=ctx.model_for(request.role),
        output_format=_output_format(request.output) if request.output else None,
        message_id=message_id,
    )


async def _resend_if_lost(
    ctx: MissionContext, client: OpenCodeClient, request: TurnRequest, turn: TurnModel
) -> None:
    if turn.accepted:
        return
    try:
        await client.get_message(request.session, turn.message)
    except OpenCodeNotFoundError:
        _log.info("mission.turn.resend", turn=turn.id, session=request.session)
        await _send(ctx, client, request, turn.message)
    except OpenCodeBadRequestError:
        pass  # OpenCode 1.18 cannot encode a stored format prompt: it exists


async def _probe(
    ctx: MissionContext, client: OpenCodeClient, watch: TurnWatch, turn: TurnModel
) -> bool:
    """Whether the session is idle (the turn ended); accepts the turn if it is busy."""
    statuses = await client.session_status()
    status = statuses.get(watch.session_id)
    if status is not None and status.type != "idle":
        if watch.accepted_by is None:
            watch.accepted_by = f"status:{status.type}"
        if ctx.config.permissions is not PermissionPolicy.ASK:
            # A request asked while we could not see it (a crash, a lost event)
            # holds the session busy for good: find it and answer it now.
            for request in await client.list_permissions():
                if request.session_id == watch.session_id:
                    watch.ask(request, again=True)
        # Busy is not progress: a hung turn stays busy, and only events move
        # `last_activity`, so the unit timeout can still fire.
        return False
    if watch.accepted_by is None:
        watch.accepted_by = "status:idle"
    watch.done = True
    return True


_PERMISSION_REFUSED = (
    "This is an unattended orchestrator mission session, so the orchestrator refused this "
    "permission request ({what}). Do your task without it; if that is impossible, stop and "
    "report the unit as blocked, saying what you needed and why."
)


async def _answer_permission(
    ctx: MissionContext, client: OpenCodeClient, request: PermissionRequest
) -> None:
    """Answer ``request`` by the mission's policy, so the session does not wait for a user."""
    policy = ctx.config.permissions
    what = " ".join([request.permission, *request.patterns])
    fields = {"session": request.session_id, "request": request.id, "permission": what}
    if policy is PermissionPolicy.ASK:
        _log.warning("mission.permission.waiting_for_user", **fields)
        return
    allow = policy is PermissionPolicy.ALLOW
    try:
        await client.reply_permission(
            request.id,
            PermissionReply.ONCE if allow else PermissionReply.REJECT,
            message=None if allow else _PERMISSION_REFUSED.format(what=what),
        )
    except OpenCodeNotFoundError:
        # Answered meanwhile: by the user, or by us before a crash or a retry.
        _log.info("mission.permission.already_answered", **fields)
    except OpenCodeError as exc:
        # The session stays busy; the next silence probe finds the request again.
        _log.warning("mission.permission.reply_failed", error=str(exc), **fields)
    else:
        _log.warning("mission.permission.answered", reply=policy.value, **fields)


def _final(message: AssistantMessage | None) -> bool:
    """Whether ``message`` ends its turn (an answer, an error, or a plain stop)."""
    if message is None:
        return False
    if message.structured is not None or message.error is not None:
        return True
    return message.finish not in (None, "tool-calls")


async def _collect(client: OpenCodeClient, watch: TurnWatch, turn: TurnModel) -> TurnOutcome:
    message = watch.last_assistant
    if not _final(message):
        # What the read-back fetched lands in the watch even when unfinished.
        message = await _read_back(client, watch, turn) or watch.last_assistant
    if not _final(message):
        if watch.session_error is not None:
            # Some failures reach only session.error: on a context overflow OpenCode
            # closes the turn's message without an error and its automatic
            # compaction (a message of its own, not this turn's) fails instead.
            name, text = watch.session_error
            failed = _failed(name, text, watch)
            if message is not None:
                failed.provider, failed.model = message.provider_id, message.model_id
            return failed
        if message is not None and message.finish is None and watch.resynced:
            # Readable, idle and unfinished: no step of it ended, so nothing came
            # after it; OpenCode stopped in the middle (a restart kills its runs).
            return TurnOutcome(
                TurnStatus.LOST,
                error="the turn was cut off before it answered (OpenCode stopped)",
                error_name=_INTERRUPTED,
                files=list(watch.files),
            )
        if message is None or watch.resynced:
            # The turn went on after the last message we know of while we could
            # not see it, and no answer of it was found at the newest end of the
            # session either (OpenCode 1.18 lists no further back in a format
            # session): its answer is out of reach.
            return TurnOutcome(
                TurnStatus.LOST,
                error="the turn's answer could not be read back",
                error_name="Lost",
                files=list(watch.files),
            )
    assert message is not None
    outcome = _outcome(message, watch)
    if (
        outcome.status is TurnStatus.COMPLETED
        and outcome.answer is None
        and watch.session_error is not None
    ):
        name, text = watch.session_error
        outcome = _failed(name, text, watch)
    outcome.provider, outcome.model = message.provider_id, message.model_id
    return outcome


async def _read_back(
    client: OpenCodeClient, watch: TurnWatch, turn: TurnModel
) -> AssistantMessage | None:
    """The turn's newest assistant message, fetched again (by id, else by listing).

    Listing reads every answer of the turn from the newest end of the session
    (:meth:`~opencode_orchestrator.opencode.OpenCodeClient.answers_to`), which
    OpenCode 1.18.33 answers even for a session holding a ``format`` prompt; so
    an answer whose id was never seen is still found, and the turn's usage with it.
    """
    known = turn.assistant_message or (
        watch.last_assistant.id if watch.last_assistant is not None else None
    )
    try:
        if known is not None:
            found = (await client.get_message(watch.session_id, known)).assistant
            if found is not None:
                watch.assistants[found.id] = found
                if _final(found):
                    return found
        answers = await client.answers_to(watch.session_id, turn.message)
    except TRANSIENT_ERRORS:
        raise  # ridden out by the caller
    except OpenCodeError as exc:
        _log.warning("mission.turn.read_back_failed", session=watch.session_id, error=str(exc))
        return None
    for info in answers:
        watch.assistants[info.id] = info
    return watch.last_assistant


def _breach(ctx: MissionContext, watch: TurnWatch) -> BudgetExceededError | None:
    caps = ctx.config.budget
    if caps.max_tokens is None and caps.max_cost is None:
        return None
    tokens, cost = watch.usage()
    used = ctx.budget.usage()
    if caps.max_tokens is not None and used.tokens + tokens > caps.max_tokens:
        return BudgetExceededError("tokens", used.tokens + tokens, caps.max_tokens)
    if caps.max_cost is not None and used.cost + cost > caps.max_cost:
        return BudgetExceededError("cost", used.cost + cost, caps.max_cost)
    return None


def _failed(
    name: str, text: str, watch: TurnWatch, status: TurnStatus | None = None
) -> TurnOutcome:
    if status is None:
        status = TurnStatus.ABORTED if name == "MessageAbortedError" else TurnStatus.ERROR
    tokens, cost = watch.usage()
    return TurnOutcome(
        status,
        error=text,
        error_name=name,
        tokens=tokens,
        cost=cost,
        tool_errors=list(watch.tool_errors),
        files=list(watch.files),
    )


def _outcome(message: AssistantMessage, watch: TurnWatch) -> TurnOutcome:
    if message.error is not None:
        data = message.error.data
        text = str(data.get("message", data))
        return _failed(message.error.name, text, watch)
    tokens, cost = watch.usage()
    answer = message.structured if isinstance(message.structured, dict) else None
    return TurnOutcome(
        TurnStatus.COMPLETED,
        answer=answer,
        tokens=tokens,
        cost=cost,
        tool_errors=list(watch.tool_errors),
        files=list(watch.files),
    )


async def _end(
    ctx: MissionContext, turn: TurnModel, watch: TurnWatch, outcome: TurnOutcome
) -> TurnOutcome:
    ctx.budget.add_usage(outcome.tokens, outcome.cost)
    # Not waited on: the unit's next state, durable, follows at once and carries
    # it; lost in a crash, the turn is read back from its session.
    await ctx.journal.write(RecordType.TURN_ENDED, outcome.record(turn.id), durable=False)
    return outcome


async def _abort(client: OpenCodeClient, session_id: str, grace: float) -> None:
    with anyio.move_on_after(grace, shield=True):
        try:
            await client.abort(session_id)
        except OpenCodeError as exc:
            _log.warning("mission.turn.abort_failed", session=session_id, error=str(exc))
