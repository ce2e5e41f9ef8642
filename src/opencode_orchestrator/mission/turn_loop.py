"""The loop that drives one turn: send (or adopt), watch, probe, answer permissions.

:func:`drive_turn` runs a turn whose ``turn.intent`` is journaled and whose
slot is held, until its session is idle, its unit timeout fires or the budget
is breached; how its end is then read and recorded is
:mod:`~opencode_orchestrator.mission.turn_end`'s. Kept apart from
:mod:`~opencode_orchestrator.mission.turns`, which decides *what* to send
(a new turn, an adopted one, a restatement) and knows nothing of this loop's
events, probes and timeouts.
"""

from __future__ import annotations

import functools
import time

import anyio

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.config import PermissionPolicy
from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.model import TurnModel
from opencode_orchestrator.mission.pool import Slot
from opencode_orchestrator.mission.records import RecordType, TurnStatus
from opencode_orchestrator.mission.transient import ride_out
from opencode_orchestrator.mission.turn_end import (
    abort_session,
    budget_breach,
    collect_outcome,
    end_turn,
    failed_outcome,
)
from opencode_orchestrator.mission.turn_types import TurnOutcome, TurnRequest
from opencode_orchestrator.mission.watch import TurnWatch
from opencode_orchestrator.opencode.client import OpenCodeClient
from opencode_orchestrator.opencode.errors import (
    OpenCodeBadRequestError,
    OpenCodeError,
    OpenCodeNotFoundError,
)
from opencode_orchestrator.opencode.models import PermissionReply, PermissionRequest
from opencode_orchestrator.opencode.structured import json_schema_format

__all__ = ["drive_turn"]

_log = get_logger(__name__)

# The format body of each output model, built once: pydantic generates the JSON
# schema afresh on every call, 0.6-0.9 ms of CPU (1.5-2 ms a unit). Callers only
# read (serialise) the body.
_output_format = functools.cache(json_schema_format)


_SESSION_GONE = "SessionGone"


async def drive_turn(
    ctx: MissionContext, request: TurnRequest, turn: TurnModel, slot: Slot, *, send: bool
) -> TurnOutcome:
    """Follow ``turn`` (journaled, ``slot`` held) to its journaled end.

    ``send``: prompt it now; otherwise it is adopted, and sent only if it
    never arrived. ``slot`` is released as soon as the session is seen idle.

    Raises:
        BudgetExceededError: the turn's usage so far breached a cap (the
            session is aborted and the turn ended first).
    """
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
            gone = failed_outcome(_SESSION_GONE, f"session {request.session} is gone: {exc}", watch)
            return await end_turn(ctx, turn, watch, gone)
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
            breach = budget_breach(ctx, watch)
            if breach is not None:
                # Enforced while running: the turn is stopped, its usage so far counted.
                await abort_session(client, request.session, timeouts.abort_grace)
                await end_turn(
                    ctx,
                    turn,
                    watch,
                    failed_outcome("BudgetExceeded", str(breach), watch, TurnStatus.ABORTED),
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
                await abort_session(client, request.session, timeouts.abort_grace)
                outcome = TurnOutcome(
                    TurnStatus.TIMEOUT,
                    error=f"no progress for {timeouts.unit:g} s",
                    error_name="Timeout",
                )
                return await end_turn(ctx, turn, watch, outcome)
            with anyio.move_on_after(min(timeouts.silence, timeouts.unit - quiet_for)):
                await watch.changed.wait()
            if not watch.changed.is_set():
                watch.reconnected = watch.resynced = True  # silence: probe the session
        # The session is idle: its capacity goes to the next turn now, not after the
        # read-back and the durable turn.ended (a few ms of every turn's slot time).
        slot.release()
        outcome = await ride_out(
            lambda: collect_outcome(client, watch, turn), what="read_back", patience=patience
        )
        if outcome.status is TurnStatus.COMPLETED and watch.rate_limits == 0:
            ctx.pool.on_success(provider)
        return await end_turn(ctx, turn, watch, outcome)
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
