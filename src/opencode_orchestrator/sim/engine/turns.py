"""One turn of a session, acted out as OpenCode's events and transcript.

The order follows OpenCode 1.18.33: the user message and its parts, then
``session.status`` busy, an assistant message, its parts (``step-start``, tool
parts going pending → running → completed, text announced empty, grown by
``message.part.delta`` events and closed with its full text, ``step-finish``
with tokens and cost), the message again with its final tokens, cost and
``finish``. A tool call ends a step: the answer comes in a new assistant
message, as OpenCode starts a new one for every model call. A turn that fails
ends its message with ``error`` and publishes ``session.error``; the session
goes idle afterwards (the caller, :mod:`.sessions`, publishes that).

This module is the turn's driver. The records it writes are in
:mod:`.turn_writer`, its tool parts in :mod:`.tool_parts` and its scripted
faults in :mod:`.turn_faults`; their public names are re-exported here.
"""

from __future__ import annotations

import anyio

from opencode_orchestrator.sim.agents import ToolCall, TurnScript
from opencode_orchestrator.sim.engine.tool_parts import STRUCTURED_TOOL, interrupt_tools, run_tool
from opencode_orchestrator.sim.engine.tools import ToolFailedError
from opencode_orchestrator.sim.engine.turn_faults import act_fault
from opencode_orchestrator.sim.engine.turn_writer import (
    PromptRequest,
    TurnFailedError,
    TurnHost,
    TurnWriter,
)
from opencode_orchestrator.sim.state import records
from opencode_orchestrator.sim.state.records import Json, now_ms

__all__ = [
    "STRUCTURED_TOOL",
    "PromptRequest",
    "TurnFailedError",
    "TurnHost",
    "TurnWriter",
    "run_turn",
    "start_turn_messages",
]


async def _act(turn: TurnWriter, think: float) -> None:
    script = turn.script
    await turn.new_assistant()
    await anyio.sleep(think + script.delay)
    if script.hang:
        await anyio.sleep_forever()
    if script.error is not None:
        raise TurnFailedError(script.error)
    await act_fault(turn, script)
    await turn.start_step()
    if script.tools:
        stopped = False
        for call in script.tools:
            stopped = await run_tool(turn, call)
            if stopped:
                break
        await turn.finish_step(script.usage, "tool-calls", 0.5)
        await turn.complete()
        await turn.publish_diff()
        if stopped:
            # A rejection without feedback ends the turn: no follow-up model call.
            return
        turn.host.set_status(turn.sid, {"type": "busy"})
        await turn.new_assistant()
        await turn.start_step()
    wants_schema = (turn.request.format or {}).get("type") == "json_schema"
    if script.structured is not None:
        await run_tool(turn, ToolCall(STRUCTURED_TOOL, script.structured))
        await turn.finish_step(script.usage, "tool-calls", 0.5)
        turn.assistant["structured"] = script.structured
        await turn.complete()
    elif wants_schema:
        # A text answer to a schema prompt: the message fails, with no session.error event.
        await turn.text(script.reply)
        await turn.finish_step(script.usage, "stop", 1.0)
        raise TurnFailedError(
            {
                "name": "StructuredOutputError",
                "data": {"message": "Model did not produce structured output", "retries": 0},
            },
            silent=True,
        )
    else:
        await turn.text(script.reply)
        await turn.finish_step(script.usage, "stop", 1.0)
        await turn.complete()


async def start_turn_messages(host: TurnHost, session: Json, request: PromptRequest) -> Json:
    """Append the user message and its parts to the transcript; return ``{info, parts}``."""
    turn = TurnWriter(host, session, request, TurnScript())
    info = records.user_message(
        turn.sid,
        agent=request.agent,
        message_id=request.message_id,
        format_=request.format,
        system=request.system,
        tools=request.tools,
    )
    await turn.put_message(info)
    parts = []
    for given in request.parts:
        part = records.text_part(turn.sid, info["id"], str(given.get("text", "")), timed=False)
        for key in ("synthetic", "ignored", "metadata"):
            if key in given:
                part[key] = given[key]
        parts.append(part)
        await turn.put_part(part)
    return {"info": info, "parts": parts}


async def run_turn(
    host: TurnHost,
    session: Json,
    request: PromptRequest,
    script: TurnScript,
    *,
    user_id: str,
    think: float,
    scope: anyio.CancelScope,
) -> Json:
    """Act out ``script`` as the answer to user message ``user_id``; return ``{info, parts}``.

    ``scope`` is the turn's cancel scope: cancelling it (an abort) ends the turn
    with ``MessageAbortedError``. Cancellation from outside (the simulator
    stopping) is not caught: the turn is left unfinished, as after a crash.
    """
    turn = TurnWriter(host, session, request, script, user_id=user_id)
    error: Json | None = None
    report: Json | None = None  # what session.error carries; None: no such event
    with scope:
        try:
            await _act(turn, think)
        except TurnFailedError as failed:
            error, report = failed.error, failed.report
        except ToolFailedError as failed:
            error = report = records.unknown_error(str(failed))
    if scope.cancelled_caught:
        error = report = records.message_aborted_error()
        if not turn.assistant:
            await turn.new_assistant()
    if error is not None:
        if report is not None:
            # OpenCode's order: the error and an idle session first, then the message.
            host.emit(turn.directory, "session.error", {"sessionID": turn.sid, "error": report})
            host.set_status(turn.sid, {"type": "idle"})
            host.emit(turn.directory, "session.idle", {"sessionID": turn.sid})
        if scope.cancelled_caught:
            await interrupt_tools(turn)
        turn.assistant["error"] = error
        turn.assistant["time"]["completed"] = now_ms()
        await turn.put_message(turn.assistant)
        await turn.publish_diff()
    return {"info": turn.assistant, "parts": turn.parts}
