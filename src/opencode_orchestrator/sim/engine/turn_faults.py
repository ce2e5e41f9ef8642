"""A scripted fault acted out in a turn: rate limit, a dying stream, overflow, API error.

Each is acted out as OpenCode 1.18.33 shows it: retries as ``session.status``
``retry`` (then ``busy`` again), and failures as a :class:`TurnFailedError`
carrying the message's ``error`` and what ``session.error`` reports. Which
turns get a fault is decided elsewhere (:mod:`.faults` draws random ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from opencode_orchestrator.sim.engine.turn_writer import TurnFailedError
from opencode_orchestrator.sim.state import records
from opencode_orchestrator.sim.state.records import now_ms
from opencode_orchestrator.testing.script import Fault

if TYPE_CHECKING:
    from opencode_orchestrator.sim.agents import TurnScript
    from opencode_orchestrator.sim.engine.turn_writer import TurnWriter

__all__ = ["act_fault"]

_DIE_ATTEMPTS = 5
_RATE_LIMIT_MESSAGE = "Rate limit reached for sim-model. Please try again later."
_DIE_MESSAGE = "Connection reset by server"
_COMPACT_FAILED = (
    "Session too large to compact - context exceeds model limit even after stripping media"
)
_API_ERROR_MESSAGE = "The fake model rejects this request (scripted api_error)."


async def act_fault(turn: TurnWriter, script: TurnScript) -> None:
    """Act out ``script.fault`` (if any) before the turn's first step.

    Returns when the turn goes on (no fault, or rate-limit retries that ended).

    Raises:
        TurnFailedError: the fault ends the turn (API error, overflow, a dying stream).
    """
    if script.fault is Fault.RATE_LIMIT:
        for attempt in range(1, script.fault_count + 1):
            await _retry(turn, attempt, _RATE_LIMIT_MESSAGE)
    elif script.fault is Fault.API_ERROR:
        raise TurnFailedError(records.api_error(_API_ERROR_MESSAGE, status_code=400))
    elif script.fault is Fault.CONTEXT_OVERFLOW:
        await _overflows(turn)
    elif script.fault is Fault.DIE:
        await _dies(turn, script.reply)


async def _retry(turn: TurnWriter, attempt: int, message: str) -> None:
    delay = turn.host.config.retry_delay * attempt
    status = {
        "type": "retry",
        "attempt": attempt,
        "message": message,
        "next": now_ms() + int(delay * 1000),
    }
    turn.host.set_status(turn.sid, status)
    await anyio.sleep(delay)
    turn.host.set_status(turn.sid, {"type": "busy"})


async def _dies(turn: TurnWriter, reply: str) -> None:
    # OpenCode retries a cut stream (each attempt starts a step and a text
    # part again), then gives up with a retryable APIError.
    for attempt in range(1, _DIE_ATTEMPTS + 1):
        await turn.start_step()
        await turn.text(reply, cut=True)
        await _retry(turn, attempt, _DIE_MESSAGE)
    raise TurnFailedError(records.connection_lost_error())


async def _overflows(turn: TurnWriter) -> None:
    # OpenCode reports the overflow, closes the message without an error and
    # tries an automatic compaction, which overflows too and ends the turn.
    overflow = records.context_overflow_error()
    turn.host.emit(turn.directory, "session.error", {"sessionID": turn.sid, "error": overflow})
    turn.assistant["time"]["completed"] = now_ms()
    await turn.put_message(turn.assistant)
    user = records.user_message(turn.sid, agent=turn.request.agent)
    await turn.put_message(user)
    compaction = records.compaction_part(turn.sid, user["id"])
    await turn.put_part(compaction)
    turn.host.set_status(turn.sid, {"type": "busy"})
    turn.user_id = user["id"]
    await turn.new_assistant(agent="compaction")
    turn.assistant["summary"] = True
    turn.host.set_status(turn.sid, {"type": "busy"})
    turn.assistant["finish"] = "error"
    raise TurnFailedError(
        {"name": "ContextOverflowError", "data": {"message": _COMPACT_FAILED}}, report=overflow
    )
