"""``POST /session/{id}/shell``: run a command in the session's directory, for real.

OpenCode records it as a user message (synthetic text) answered by an
assistant message holding one completed ``bash`` tool part. The command runs
as a subprocess (never on the loop), bounded by :data:`SHELL_TIMEOUT`.
"""

from __future__ import annotations

from opencode_orchestrator.sim.agents import TurnScript
from opencode_orchestrator.sim.engine.process import SHELL_TIMEOUT, run_command
from opencode_orchestrator.sim.engine.turn_writer import PromptRequest, TurnHost, TurnWriter
from opencode_orchestrator.sim.state import records
from opencode_orchestrator.sim.state.records import Json, now_ms

__all__ = ["SHELL_TIMEOUT", "run_shell"]

_SYNTHETIC = "The following tool was executed by the user"


async def run_shell(host: TurnHost, session: Json, agent: str, command: str) -> Json:
    """Run ``command`` in ``session``; return the assistant message as ``{info, parts}``."""
    request = PromptRequest(
        text=_SYNTHETIC,
        parts=({"type": "text", "text": _SYNTHETIC, "synthetic": True},),
        agent=agent,
    )
    turn = TurnWriter(host, session, request, TurnScript())
    user = records.user_message(turn.sid, agent=agent)
    await turn.put_message(user)
    text = records.text_part(turn.sid, user["id"], _SYNTHETIC, timed=False) | {"synthetic": True}
    await turn.put_part(text)
    turn.user_id = user["id"]
    await turn.new_assistant()
    args: Json = {"command": command, "description": command[:80]}
    part = records.tool_part(turn.sid, turn.assistant["id"], "bash")
    start = now_ms()
    part["state"] = {"status": "running", "input": args, "time": {"start": start}}
    turn.parts.append(part)
    await turn.put_part(part)
    output, code = await run_command(command, turn.directory)
    part["state"] = {
        "status": "completed",
        "input": args,
        "output": output,
        "title": command[:80],
        "metadata": {"output": output, "exit": code, "description": command[:80]},
        "time": {"start": start, "end": now_ms()},
    }
    await turn.put_part(part)
    turn.assistant["time"]["completed"] = now_ms()
    await turn.put_message(turn.assistant)
    return {"info": turn.assistant, "parts": turn.parts}
