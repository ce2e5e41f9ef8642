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

Every ``message.updated`` / ``message.part.updated`` is persisted before it is
published, so a client that reacts to an event can read the transcript it
describes. Deltas are not persisted: the part's final update carries the text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import orjson

from opencode_orchestrator.sim.agents import ToolCall, TurnScript
from opencode_orchestrator.sim.engine.tools import (
    FileChange,
    ToolFailedError,
    apply_file_tool,
    diff_entry,
)
from opencode_orchestrator.sim.state import records
from opencode_orchestrator.sim.state.records import Json, now_ms
from opencode_orchestrator.testing.script import Fault, ScriptedUsage

if TYPE_CHECKING:
    from opencode_orchestrator.sim.config import SimConfig
    from opencode_orchestrator.sim.state.store import SimStore

__all__ = [
    "STRUCTURED_TOOL",
    "PromptRequest",
    "TurnFailedError",
    "TurnHost",
    "TurnWriter",
    "run_turn",
    "start_turn_messages",
]

STRUCTURED_TOOL = "StructuredOutput"
_FILE_TOOLS = frozenset({"write", "edit"})


class TurnHost(Protocol):
    """What a turn needs from the session hub."""

    store: SimStore
    config: SimConfig

    def emit(self, directory: str, kind: str, properties: Json) -> None:
        """Publish an event for ``directory``."""

    def set_status(self, session_id: str, status: Json) -> None:
        """Record and publish a session status."""


@dataclass(frozen=True, slots=True)
class PromptRequest:
    """A validated prompt body (``POST /session/{id}/message`` and ``prompt_async``)."""

    text: str
    parts: tuple[Json, ...]
    agent: str
    message_id: str | None = None
    format: Json | None = None
    system: str | None = None
    tools: dict[str, bool] | None = None
    no_reply: bool = False


class TurnFailedError(Exception):
    """The turn ends with ``error`` (an OpenCode message-error document)."""

    def __init__(self, error: Json) -> None:
        super().__init__(error["name"])
        self.error = error


@dataclass(slots=True)
class TurnWriter:
    """Writes one turn's messages and parts: persisted first, then published."""

    host: TurnHost
    session: Json
    request: PromptRequest
    script: TurnScript
    user_id: str = ""
    assistant: Json = field(default_factory=dict)
    parts: list[Json] = field(default_factory=list)
    changes: list[FileChange] = field(default_factory=list)

    @property
    def sid(self) -> str:
        """The session id."""
        return str(self.session["id"])

    @property
    def directory(self) -> str:
        """The session's project directory."""
        return str(self.session["directory"])

    async def pause(self) -> None:
        """Wait the configured pause between events of a turn."""
        if self.host.config.latency.step > 0:
            await anyio.sleep(self.host.config.latency.step)

    async def put_message(self, info: Json) -> None:
        """Persist a message info, then publish ``message.updated``."""
        await self.host.store.put_message(info)
        self.host.emit(self.directory, "message.updated", {"sessionID": self.sid, "info": info})

    async def put_part(self, part: Json) -> None:
        """Persist a part, then publish ``message.part.updated``."""
        await self.host.store.put_part(part)
        self.host.emit(
            self.directory,
            "message.part.updated",
            {"sessionID": self.sid, "part": part, "time": now_ms()},
        )

    async def new_assistant(self) -> None:
        """Start a new assistant message (one per model call)."""
        self.assistant = records.assistant_message(
            self.sid, parent_id=self.user_id, agent=self.request.agent, directory=self.directory
        )
        self.parts = []
        await self.put_message(self.assistant)

    async def start_step(self) -> None:
        """Add a ``step-start`` part."""
        part = records.step_start_part(self.sid, self.assistant["id"])
        self.parts.append(part)
        await self.put_part(part)

    async def finish_step(self, usage: ScriptedUsage, reason: str, output_share: float) -> None:
        """Add ``step-finish``; complete the message with its tokens and cost."""
        output = math.ceil(usage.output * output_share)
        tokens = {
            "total": usage.input + output + usage.reasoning + usage.cache_read,
            "input": usage.input,
            "output": output,
            "reasoning": usage.reasoning,
            "cache": {"read": usage.cache_read, "write": 0},
        }
        cost = round((usage.input + output) / 1000 * self.host.config.cost_per_1k_tokens, 8)
        part = records.step_finish_part(
            self.sid, self.assistant["id"], reason=reason, tokens=tokens, cost=cost
        )
        self.parts.append(part)
        await self.put_part(part)
        self.assistant["tokens"] = tokens
        self.assistant["cost"] = cost
        self.assistant["finish"] = reason
        self.assistant["time"]["completed"] = now_ms()
        await self.put_message(self.assistant)

    async def text(self, text: str, *, cut: bool = False) -> None:
        """Add a text part grown by deltas; ``cut`` stops half-way and fails the turn."""
        part = records.text_part(self.sid, self.assistant["id"], "", timed=True)
        self.parts.append(part)
        await self.put_part(part)
        chunk = self.host.config.delta_chunk
        pieces = [text[i : i + chunk] for i in range(0, len(text), chunk)] or [""]
        if cut:
            pieces = pieces[: max(1, len(pieces) // 2)]
        for piece in pieces:
            await self.pause()
            part["text"] += piece
            self.host.emit(
                self.directory,
                "message.part.delta",
                {
                    "sessionID": self.sid,
                    "messageID": self.assistant["id"],
                    "partID": part["id"],
                    "field": "text",
                    "delta": piece,
                },
            )
        if cut:
            raise TurnFailedError(records.unknown_error("terminated"))
        part["time"]["end"] = now_ms()
        await self.put_part(part)

    async def tool(self, call: ToolCall) -> None:
        """Add a tool part and take it pending → running → completed (or error)."""
        part = records.tool_part(self.sid, self.assistant["id"], call.name, call.args)
        self.parts.append(part)
        await self.put_part(part)
        await self.pause()
        start = now_ms()
        part["state"] = {"status": "running", "input": call.args, "time": {"start": start}}
        await self.put_part(part)
        try:
            output, title, metadata = await self._carry_out(call)
        except ToolFailedError as exc:
            part["state"] = {
                "status": "error",
                "input": call.args,
                "error": str(exc),
                "time": {"start": start, "end": now_ms()},
            }
        else:
            part["state"] = {
                "status": "completed",
                "input": call.args,
                "output": output,
                "title": title,
                "metadata": metadata,
                "time": {"start": start, "end": now_ms()},
            }
        await self.put_part(part)

    async def _carry_out(self, call: ToolCall) -> tuple[str, str, Json]:
        if call.name in _FILE_TOOLS:
            change = await apply_file_tool(self.directory, call.name, call.args)
            self.changes.append(change)
            self.host.emit(self.directory, "file.edited", {"file": str(change.path)})
            return "Wrote file successfully.", change.relative, {"filepath": str(change.path)}
        if call.name == "todowrite":
            todos: list[Any] = list(call.args.get("todos", []))
            await self.host.store.put_todos(self.sid, todos)
            self.host.emit(self.directory, "todo.updated", {"sessionID": self.sid, "todos": todos})
            return orjson_text(todos), f"{len(todos)} todos", {"todos": todos}
        if call.name == STRUCTURED_TOOL:
            return "Structured output captured.", "Structured output", {}
        return "ok", call.name, {}

    async def publish_diff(self) -> None:
        """Merge the turn's file changes into the session diff; publish it."""
        if not self.changes:
            return
        current = {entry["file"]: entry for entry in await self.host.store.diff(self.sid)}
        for change in self.changes:
            previous = current.get(change.relative)
            entry = diff_entry(change, None)
            if previous is not None and previous.get("status") == "added":
                entry["status"] = "added"
            current[change.relative] = entry
        diff = list(current.values())
        self.changes = []
        await self.host.store.put_diff(self.sid, diff)
        self.host.emit(self.directory, "session.diff", {"sessionID": self.sid, "diff": diff})


def orjson_text(document: object) -> str:
    """``document`` as JSON text (a tool's output)."""
    return orjson.dumps(document).decode()


async def _rate_limited(turn: TurnWriter, attempts: int) -> None:
    delay = turn.host.config.retry_delay
    for attempt in range(1, attempts + 1):
        turn.host.set_status(
            turn.sid,
            {
                "type": "retry",
                "attempt": attempt,
                "message": "Rate limit exceeded, please retry later",
                "next": now_ms() + int(delay * 1000),
            },
        )
        await anyio.sleep(delay)
    turn.host.set_status(turn.sid, {"type": "busy"})


async def _act(turn: TurnWriter, think: float) -> None:
    script = turn.script
    await turn.new_assistant()
    await anyio.sleep(think + script.delay)
    if script.hang:
        await anyio.sleep_forever()
    if script.error is not None:
        raise TurnFailedError(script.error)
    if script.fault is Fault.RATE_LIMIT:
        await _rate_limited(turn, script.fault_count)
    elif script.fault is Fault.API_ERROR:
        raise TurnFailedError(records.api_error("Internal Server Error (simulated provider)"))
    elif script.fault is Fault.CONTEXT_OVERFLOW:
        raise TurnFailedError(records.context_overflow_error())
    await turn.start_step()
    if script.tools:
        for call in script.tools:
            await turn.tool(call)
        await turn.finish_step(script.usage, "tool-calls", 0.5)
        await turn.publish_diff()
        await turn.new_assistant()
        await turn.start_step()
    if script.fault is Fault.DIE:
        await turn.text(script.reply, cut=True)
    wants_schema = (turn.request.format or {}).get("type") == "json_schema"
    if script.structured is not None:
        await turn.tool(ToolCall(STRUCTURED_TOOL, script.structured))
        turn.assistant["structured"] = script.structured
        await turn.finish_step(script.usage, "tool-calls", 0.5)
    elif wants_schema:
        raise TurnFailedError(
            {
                "name": "StructuredOutputError",
                "data": {"message": "The model did not produce structured output.", "retries": 0},
            }
        )
    else:
        await turn.text(script.reply)
        await turn.finish_step(script.usage, "stop", 1.0)


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
    with scope:
        try:
            await _act(turn, think)
        except TurnFailedError as failed:
            error = failed.error
        except ToolFailedError as failed:
            error = records.unknown_error(str(failed))
    if scope.cancelled_caught:
        error = records.message_aborted_error()
        if not turn.assistant:
            await turn.new_assistant()
    if error is not None:
        turn.assistant["error"] = error
        turn.assistant["time"]["completed"] = now_ms()
        await turn.put_message(turn.assistant)
        await turn.publish_diff()
        host.emit(turn.directory, "session.error", {"sessionID": turn.sid, "error": error})
    return {"info": turn.assistant, "parts": turn.parts}
