"""Every other agent: obeys the ``@script`` directive, as the fake LLM does for a real server."""

from __future__ import annotations

from opencode_orchestrator.mission.contracts import MISSION_AGENTS
from opencode_orchestrator.sim.agents.base import AgentContext, ToolCall, TurnScript
from opencode_orchestrator.sim.agents.mission import mission_script
from opencode_orchestrator.sim.state.records import api_error
from opencode_orchestrator.testing.script import ScriptDirectiveError, parse_directive

__all__ = ["COMPACTION_AGENT", "decide_turn"]


def _directive_script(prompt: str) -> TurnScript:
    try:
        directive = parse_directive(prompt)
    except ScriptDirectiveError as exc:
        # The fake LLM refuses a malformed directive with a 400: the turn fails loudly.
        return TurnScript(error=api_error(str(exc), status_code=400))
    if directive is None:
        return TurnScript()
    tools = (ToolCall(directive.tool.name, dict(directive.tool.args)),) if directive.tool else ()
    return TurnScript(
        reply=directive.reply,
        structured=directive.structured,
        tools=tools,
        delay=directive.delay,
        usage=directive.usage,
        fault=directive.fault,
        fault_count=directive.fault_count,
    )


COMPACTION_AGENT = "compaction"
_SUMMARY = "Summary of the session so far (simulated compaction)."


def decide_turn(ctx: AgentContext, agent: str, prompt: str, directory: str) -> TurnScript:
    """What ``agent`` does with ``prompt`` in a session of ``directory``."""
    if agent == COMPACTION_AGENT:
        return TurnScript(reply=_SUMMARY)
    if agent in MISSION_AGENTS:
        return mission_script(ctx, agent, prompt, directory)
    return _directive_script(prompt)
