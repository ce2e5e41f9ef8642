"""A turn's tool parts: pending → running → completed (or error), as OpenCode shows them.

Before a tool runs, the session's rules are asked (``bash`` and the file tools
raise a permission request a client may have to answer). A tool the rules
deny outright is not offered to the model, so a call to it goes to OpenCode's
``invalid`` tool instead. ``write``/``edit`` change files for real, ``bash``
runs a subprocess, ``todowrite`` stores todos; other tools just answer ``ok``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from opencode_orchestrator.sim.engine.permissions import (
    AGENT_RULES,
    PermissionRejectedError,
    tool_disabled,
)
from opencode_orchestrator.sim.engine.process import run_command
from opencode_orchestrator.sim.engine.tools import (
    FileChange,
    ToolFailedError,
    apply_file_tool,
    plan_file_tool,
    unified_diff,
)
from opencode_orchestrator.sim.state import records
from opencode_orchestrator.sim.state.records import Json, now_ms

if TYPE_CHECKING:
    from opencode_orchestrator.sim.agents import ToolCall
    from opencode_orchestrator.sim.engine.turn_writer import TurnWriter

__all__ = ["STRUCTURED_TOOL", "interrupt_tools", "orjson_text", "run_tool"]

STRUCTURED_TOOL = "StructuredOutput"
_FILE_TOOLS = frozenset({"write", "edit"})
# The tools a real 1.18.33 offers our test projects' build agent (webfetch is denied there).
_REAL_TOOLS: tuple[str, ...] = (
    *("bash", "edit", "glob", "grep", "invalid", "question"),
    *("read", "skill", "task", "todowrite", "write"),
)


async def run_tool(turn: TurnWriter, call: ToolCall) -> bool:
    """Add a tool part to ``turn`` and take it pending → running → completed (or error).

    Returns ``True`` when the user rejected the call without feedback, which
    ends the turn after this step (as OpenCode does).
    """
    if call.name != STRUCTURED_TOOL and tool_disabled(_permission_of(call.name), _rules(turn)):
        await _unavailable(turn, call)
        return False
    part = records.tool_part(turn.sid, turn.assistant["id"], call.name)
    turn.parts.append(part)
    await turn.put_part(part)
    await turn.pause()
    start = now_ms()
    part["state"] = {"status": "running", "input": call.args, "time": {"start": start}}
    await turn.put_part(part)
    stops = False
    try:
        planned = await _ask(turn, call, part)
        output, title, metadata = await _carry_out(turn, call, part, planned)
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
    await turn.put_part(part)
    return stops


async def interrupt_tools(turn: TurnWriter) -> None:
    """End the tool parts of ``turn`` an abort cut short, as OpenCode marks them."""
    for part in turn.parts:
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
            await turn.put_part(part)


def orjson_text(document: object) -> str:
    """``document`` as JSON text (a tool's output)."""
    return orjson.dumps(document).decode()


def _rules(turn: TurnWriter) -> list[Json]:
    """The rulesets a permission is evaluated against: the agent's, then the session's."""
    return [*AGENT_RULES, *(turn.session.get("permission") or [])]


def _permission_of(tool: str) -> str:
    """The permission a tool is governed by (file tools share ``edit``)."""
    return "edit" if tool in ("edit", "write", "apply_patch") else tool


async def _unavailable(turn: TurnWriter, call: ToolCall) -> None:
    # A tool whose last rule is `deny *` is not offered to the model; a
    # call to it goes to OpenCode's `invalid` tool, which completes.
    rules = _rules(turn)
    offered = [t for t in _REAL_TOOLS if not tool_disabled(_permission_of(t), rules)]
    error = (
        f"Model tried to call unavailable tool '{call.name}'. "
        f"Available tools: {', '.join(offered)}."
    )
    part = records.tool_part(turn.sid, turn.assistant["id"], "invalid")
    turn.parts.append(part)
    await turn.put_part(part)
    start = now_ms()
    given = {"tool": call.name, "error": error}
    part["state"] = {"status": "running", "input": given, "time": {"start": start}}
    await turn.put_part(part)
    part["state"] = {
        "status": "completed",
        "input": given,
        "output": f"The arguments provided to the tool are invalid: {error}",
        "metadata": {"truncated": False},
        "title": "Invalid Tool",
        "time": {"start": start, "end": now_ms()},
    }
    await turn.put_part(part)


async def _ask(turn: TurnWriter, call: ToolCall, part: Json) -> FileChange | None:
    """Ask the session's rules whether ``call`` may run; wait for a reply if they ask.

    Returns a file tool's planned change when nothing was waited for, so it
    need not be planned again (nothing can have changed the file meanwhile).
    """
    change: FileChange | None = None
    if call.name == "bash":
        command = str(call.args.get("command", ""))
        permission, patterns = "bash", [command]
    elif call.name in _FILE_TOOLS:
        change = plan_file_tool(turn.directory, call.name, call.args)
        permission, patterns = "edit", [change.relative]
    else:
        return None
    broker, rules = turn.host.permissions, _rules(turn)
    if not broker.must_ask(turn.directory, rules, permission, patterns):
        return change
    if change is not None:
        request: Json = {
            "metadata": {"filepath": str(change.path), "diff": unified_diff(change)},
            "always": ["*"],
        }
    else:
        # OpenCode offers "<command name> *" as the pattern to always allow.
        words = command.split()
        request = {
            "metadata": {"command": command},
            "always": [f"{words[0] if words else command} *"],
        }
    tool = {"messageID": turn.assistant["id"], "callID": part["callID"]}
    await broker.wait_for_reply(
        turn.directory,
        {
            "sessionID": turn.sid,
            "permission": permission,
            "patterns": patterns,
            **request,
            "tool": tool,
        },
    )
    return None


async def _carry_out(
    turn: TurnWriter, call: ToolCall, part: Json, planned: FileChange | None
) -> tuple[str, str, Json]:
    if call.name == "bash":
        return await _bash(turn, str(call.args.get("command", "")), part)
    if call.name in _FILE_TOOLS:
        change = apply_file_tool(turn.directory, call.name, call.args, planned)
        turn.changes.append(change)
        turn.host.emit(turn.directory, "file.edited", {"file": str(change.path)})
        metadata = {
            "diagnostics": {},
            "filepath": str(change.path),
            "exists": change.existed,
            "truncated": False,
        }
        return "Wrote file successfully.", change.relative, metadata
    if call.name == "todowrite":
        todos: list[Any] = list(call.args.get("todos", []))
        turn.host.store.put_todos(turn.sid, todos)
        turn.host.emit(turn.directory, "todo.updated", {"sessionID": turn.sid, "todos": todos})
        return orjson_text(todos), f"{len(todos)} todos", {"todos": todos}
    if call.name == STRUCTURED_TOOL:
        return "Structured output captured successfully.", "Structured Output", {"valid": True}
    return "ok", call.name, {}


async def _bash(turn: TurnWriter, command: str, part: Json) -> tuple[str, str, Json]:
    # The output streams into the running part's metadata before it completes.
    part["state"] = {**part["state"], "metadata": {"output": ""}}
    await turn.put_part(part)
    output, code = await run_command(command, turn.directory)
    if output:
        part["state"] = {**part["state"], "metadata": {"output": output}}
        await turn.put_part(part)
    return output, command, {"output": output, "exit": code, "truncated": False}
