"""Scripted agents: the mission roles and the ``@script``-driven default."""

from opencode_orchestrator.sim.agents.base import AgentContext, ToolCall, TurnScript
from opencode_orchestrator.sim.agents.scripted import decide_turn

__all__ = ["AgentContext", "ToolCall", "TurnScript", "decide_turn"]
