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
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import orjson

from opencode_orchestrator.sim.agents import ToolCall, TurnScript
from opencode_orchestrator.sim.engine.permissions import (
    AGENT_RULES,
    PermissionBroker,
    PermissionRejectedError,
    tool_disabled,
)
from opencode_orchestrator.sim.engine.process import run_command
from opencode_orchestrator.sim.engine.tools import (
    FileChange,
    ToolFailedError,
    apply_file_tool,
    diff_entry,
    plan_file_tool,
    unified_diff,
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
# The tools a real 1.18.33 offers our test projects' build agent (webfetch is denied there).
_REAL_TOOLS: tuple[str, ...] = (
    *("bash", "edit", "glob", "grep", "invalid", "question"),
    *("read", "skill", "task", "todowrite", "write"),
)
_WORDS = re.compile(r"\S+\s*|\s+")
_DIE_ATTEMPTS = 5
_RATE_LIMIT_MESSAGE = "Rate limit reached for sim-model. Please try again later."
_DIE_MESSAGE = "Connection reset by server"
_COMPACT_FAILED = (
    "Session too large to compact - context exceeds model limit even after stripping media"
)
_API_ERROR_MESSAGE = "The fake model rejects this request (scripted api_error)."


class TurnHost(Protocol):
    """What a turn needs from the session hub."""

    store: SimStore
    config: SimConfig
    permissions: PermissionBroker

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
    """The turn ends with ``error`` on its message; ``report`` goes in ``session.error``."""

    def __init__(self, error: Json, *, report: Json | None = None, silent: bool = False) -> None:
        super().__init__(error["name"])
        self.error = error
        self.report = None if silent else report if report is not None else error


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

    async def new_assistant(self, agent: str | None = None) -> None:
        """Start a new assistant message (one per model call)."""
        self.assistant = records.assistant_message(
            self.sid,
            parent_id=self.user_id,
            agent=agent or self.request.agent,
            directory=self.directory,
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
        await self.put_message(self.assistant)

    async def complete(self) -> None:
        """Stamp ``time.completed`` on the assistant message and publish it."""
        self.assistant["time"]["completed"] = now_ms()
        await self.put_message(self.assistant)

    async def text(self, text: str, *, cut: bool = False) -> None:
        """Add a text part grown by deltas; ``cut`` stops half-way and fails the turn."""
        part = records.text_part(self.sid, self.assistant["id"], "", timed=True)
        self.parts.append(part)
        await self.put_part(part)
        # OpenCode's deltas arrive a word at a time, trailing space included.
        pieces = _WORDS.findall(text) or [""]
        if cut:
            pieces = pieces[:1]
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
            return
        part["time"]["end"] = now_ms()
        await self.put_part(part)

    def rules(self) -> list[Json]:
        """The rulesets a permission is evaluated against: the agent's, then the session's."""
        return [*AGENT_RULES, *(self.session.get("permission") or [])]

    async def tool(self, call: ToolCall) -> bool:
        """Add a tool part and take it pending → running → completed (or error).

        Returns ``True`` when the user rejected the call without feedback, which
        ends the turn after this step (as OpenCode does).
        """
        if call.name != STRUCTURED_TOOL and tool_disabled(_permission_of(call.name), self.rules()):
            await self._unavailable(call)
            return False
        part = records.tool_part(self.sid, self.assistant["id"], call.name)
        self.parts.append(part)
        await self.put_part(part)
        await self.pause()
        start = now_ms()
        part["state"] = {"status": "running", "input": call.args, "time": {"start": start}}
        await self.put_part(part)
        stops = False
        try:
            await self._ask(call, part)
            output, title, metadata = await self._carry_out(call, part)
        except ToolFailedError as exc:
            stops = isinstance(exc, PermissionRejectedError) and exc.stops_turn
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
        return stops

    async def _unavailable(self, call: ToolCall) -> None:
        # A tool whose last rule is `deny *` is not offered to the model; a
        # call to it goes to OpenCode's `invalid` tool, which completes.
        rules = self.rules()
        offered = [t for t in _REAL_TOOLS if not tool_disabled(_permission_of(t), rules)]
        error = (
            f"Model tried to call unavailable tool '{call.name}'. "
            f"Available tools: {', '.join(offered)}."
        )
        part = records.tool_part(self.sid, self.assistant["id"], "invalid")
        self.parts.append(part)
        await self.put_part(part)
        start = now_ms()
        given = {"tool": call.name, "error": error}
        part["state"] = {"status": "running", "input": given, "time": {"start": start}}
        await self.put_part(part)
        part["state"] = {
            "status": "completed",
            "input": given,
            "output": f"The arguments provided to the tool are invalid: {error}",
            "metadata": {"truncated": False},
            "title": "Invalid Tool",
            "time": {"start": start, "end": now_ms()},
        }
        await self.put_part(part)

    async def _ask(self, call: ToolCall, part: Json) -> None:
        """Ask the session's rules whether ``call`` may run; wait for a reply if they ask."""
        if call.name == "bash":
            command = str(call.args.get("command", ""))
            # OpenCode offers "<command name> *" as the pattern to always allow.
            words = command.split()
            request: Json = {
                "permission": "bash",
                "patterns": [command],
                "metadata": {"command": command},
                "always": [f"{words[0] if words else command} *"],
            }
        elif call.name in _FILE_TOOLS:
            change = await plan_file_tool(self.directory, call.name, call.args)
            request = {
                "permission": "edit",
                "patterns": [change.relative],
                "metadata": {"filepath": str(change.path), "diff": unified_diff(change)},
                "always": ["*"],
            }
        else:
            return
        tool = {"messageID": self.assistant["id"], "callID": part["callID"]}
        await self.host.permissions.ask(
            self.directory, self.rules(), {"sessionID": self.sid, **request, "tool": tool}
        )

    async def _carry_out(self, call: ToolCall, part: Json) -> tuple[str, str, Json]:
        if call.name == "bash":
            return await self._bash(str(call.args.get("command", "")), part)
        if call.name in _FILE_TOOLS:
            change = await apply_file_tool(self.directory, call.name, call.args)
            self.changes.append(change)
            self.host.emit(self.directory, "file.edited", {"file": str(change.path)})
            metadata = {
                "diagnostics": {},
                "filepath": str(change.path),
                "exists": change.existed,
                "truncated": False,
            }
            return "Wrote file successfully.", change.relative, metadata
        if call.name == "todowrite":
            todos: list[Any] = list(call.args.get("todos", []))
            await self.host.store.put_todos(self.sid, todos)
            self.host.emit(self.directory, "todo.updated", {"sessionID": self.sid, "todos": todos})
            return orjson_text(todos), f"{len(todos)} todos", {"todos": todos}
        if call.name == STRUCTURED_TOOL:
            return "Structured output captured successfully.", "Structured Output", {"valid": True}
        return "ok", call.name, {}

    async def _bash(self, command: str, part: Json) -> tuple[str, str, Json]:
        # The output streams into the running part's metadata before it completes.
        part["state"] = {**part["state"], "metadata": {"output": ""}}
        await self.put_part(part)
        output, code = await run_command(command, self.directory)
        if output:
            part["state"] = {**part["state"], "metadata": {"output": output}}
            await self.put_part(part)
        return output, command, {"output": output, "exit": code, "truncated": False}

    async def interrupt_tools(self) -> None:
        """End tool parts an abort cut short, as OpenCode marks them."""
        for part in self.parts:
            state = part.get("state", {})
            if part["type"] == "tool" and state.get("status") in ("pending", "running"):
                start = state.get("time", {}).get("start", now_ms())
                part["state"] = {
                    "status": "error",
                    "input": state.get("input", {}),
                    "time": {"start": start, "end": now_ms()},
                    "error": "Tool execution aborted",
                    "metadata": {"interrupted": True},
                }
                await self.put_part(part)

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


def _permission_of(tool: str) -> str:
    """The permission a tool is governed by (file tools share ``edit``)."""
    return "edit" if tool in ("edit", "write", "apply_patch") else tool


def orjson_text(document: object) -> str:
    """``document`` as JSON text (a tool's output)."""
    return orjson.dumps(document).decode()


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


async def _act(turn: TurnWriter, think: float) -> None:
    script = turn.script
    await turn.new_assistant()
    await anyio.sleep(think + script.delay)
    if script.hang:
        await anyio.sleep_forever()
    if script.error is not None:
        raise TurnFailedError(script.error)
    if script.fault is Fault.RATE_LIMIT:
        for attempt in range(1, script.fault_count + 1):
            await _retry(turn, attempt, _RATE_LIMIT_MESSAGE)
    elif script.fault is Fault.API_ERROR:
        raise TurnFailedError(records.api_error(_API_ERROR_MESSAGE, status_code=400))
    elif script.fault is Fault.CONTEXT_OVERFLOW:
        await _overflows(turn)
    elif script.fault is Fault.DIE:
        await _dies(turn, script.reply)
    await turn.start_step()
    if script.tools:
        stopped = False
        for call in script.tools:
            stopped = await turn.tool(call)
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
        await turn.tool(ToolCall(STRUCTURED_TOOL, script.structured))
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
            await turn.interrupt_tools()
        turn.assistant["error"] = error
        turn.assistant["time"]["completed"] = now_ms()
        await turn.put_message(turn.assistant)
        await turn.publish_diff()
    return {"info": turn.assistant, "parts": turn.parts}
