"""How a turn's end is read and recorded: its outcome, its usage, its ``turn.ended``.

Once the loop (:mod:`~opencode_orchestrator.mission.turn_loop`) has seen a
session idle, or has to stop it, what the turn produced is decided here: the
final assistant message (read back from OpenCode when it was not seen), the
error it or the session reported, the usage it spent against the budget.
Kept apart from the loop because it only reads results and never drives a
session; it knows nothing of how turns are sent or followed.
"""

from __future__ import annotations

import anyio

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.errors import BudgetExceededError
from opencode_orchestrator.mission.model import TurnModel
from opencode_orchestrator.mission.records import RecordType, TurnStatus
from opencode_orchestrator.mission.transient import TRANSIENT_ERRORS
from opencode_orchestrator.mission.turn_types import INTERRUPTED, TurnOutcome
from opencode_orchestrator.mission.watch import TurnWatch
from opencode_orchestrator.opencode.client import OpenCodeClient
from opencode_orchestrator.opencode.errors import OpenCodeError
from opencode_orchestrator.opencode.models import AssistantMessage

__all__ = ["abort_session", "budget_breach", "collect_outcome", "end_turn", "failed_outcome"]

_log = get_logger(__name__)


def _final(message: AssistantMessage | None) -> bool:
    """Whether ``message`` ends its turn (an answer, an error, or a plain stop)."""
    if message is None:
        return False
    if message.structured is not None or message.error is not None:
        return True
    return message.finish not in (None, "tool-calls")


async def collect_outcome(client: OpenCodeClient, watch: TurnWatch, turn: TurnModel) -> TurnOutcome:
    """The outcome of ``turn``, whose session is idle: its answer, read back if not seen."""
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
            failed = failed_outcome(name, text, watch)
            if message is not None:
                failed.provider, failed.model = message.provider_id, message.model_id
            return failed
        if message is not None and message.finish is None and watch.resynced:
            # Readable, idle and unfinished: no step of it ended, so nothing came
            # after it; OpenCode stopped in the middle (a restart kills its runs).
            return TurnOutcome(
                TurnStatus.LOST,
                error="the turn was cut off before it answered (OpenCode stopped)",
                error_name=INTERRUPTED,
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
        outcome = failed_outcome(name, text, watch)
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


def budget_breach(ctx: MissionContext, watch: TurnWatch) -> BudgetExceededError | None:
    """The cap the mission's usage plus this turn's so far exceeds, if any."""
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


def failed_outcome(
    name: str, text: str, watch: TurnWatch, status: TurnStatus | None = None
) -> TurnOutcome:
    """A failed outcome named ``name``, with what the turn spent and wrote so far."""
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
        return failed_outcome(message.error.name, text, watch)
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


async def end_turn(
    ctx: MissionContext, turn: TurnModel, watch: TurnWatch, outcome: TurnOutcome
) -> TurnOutcome:
    """Count ``outcome``'s usage against the budget and journal ``turn.ended``; returns it."""
    ctx.budget.add_usage(outcome.tokens, outcome.cost)
    # Not waited on: the unit's next state, durable, follows at once and carries
    # it; lost in a crash, the turn is read back from its session.
    await ctx.journal.write(RecordType.TURN_ENDED, outcome.record(turn.id), durable=False)
    return outcome


async def abort_session(client: OpenCodeClient, session_id: str, grace: float) -> None:
    """Ask OpenCode to stop ``session_id``, waiting at most ``grace`` s, even when cancelled."""
    with anyio.move_on_after(grace, shield=True):
        try:
            await client.abort(session_id)
        except OpenCodeError as exc:
            _log.warning("mission.turn.abort_failed", session=session_id, error=str(exc))
