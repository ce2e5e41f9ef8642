"""A stand-in for OpenCode's side of the conversation, to drive the scenario player offline.

:func:`opencode_system` builds the system message the way OpenCode 1.18.33
sends it (measured: the agent's prompt, then the model line, the ``<env>``
block and the structured-output instruction); :class:`Conversation` plays
OpenCode's loop of one session: send the messages, run the tool the model
asked for (here: pretend, with a canned result), send again, until the
model answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from opencode_orchestrator.mission.prompts import load_prompt
from opencode_orchestrator.testing.fake_llm_turns import STRUCTURED_OUTPUT_TOOL, TurnPlan
from opencode_orchestrator.testing.scenario_player import ScenarioPlayer

__all__ = ["PROJECT", "Conversation", "opencode_system"]

PROJECT = "/tmp/scenario-project"
_TOOLS = ["bash", "edit", "glob", "grep", "read", "skill", "task", "todowrite", "write"]


def opencode_system(role: str, *, directory: str = PROJECT) -> str:
    """The system message OpenCode sends for a mission agent of ``role``."""
    return (
        load_prompt(role).text
        + "\nYou are powered by the model named fake-model. The exact model ID is fake/fake-model"
        + "\nHere is some useful information about the environment you are running in:\n<env>\n"
        + f"  Working directory: {directory}\n  Workspace root folder: {directory}\n"
        + "  Is directory a git repo: yes\n  Platform: linux\n</env>\n"
        + "IMPORTANT: The user has requested structured output. You MUST use the "
        + "StructuredOutput tool to provide your final response."
    )


@dataclass
class Conversation:
    """One session of one role, as OpenCode holds it."""

    player: ScenarioPlayer
    role: str
    session: str
    parent: str = "ses_parent"
    structured: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.messages.append({"role": "system", "content": opencode_system(self.role)})

    def body(self) -> dict[str, Any]:
        """The request OpenCode would send now."""
        tools = [*_TOOLS, STRUCTURED_OUTPUT_TOOL] if self.structured else _TOOLS
        return {
            "model": "fake-model",
            "stream": True,
            "messages": list(self.messages),
            "tools": [{"type": "function", "function": {"name": name}} for name in tools],
        }

    def call(self) -> TurnPlan:
        """One model call, as it is now (no tool run afterwards)."""
        headers = {"x-session-id": self.session, "x-parent-session-id": self.parent}
        return self.player(self.body(), headers)

    def turn(self, prompt: str, *, result: str = "ok", limit: int = 50) -> list[TurnPlan]:
        """Send ``prompt`` and loop until the model answers; every plan it gave."""
        self.messages.append({"role": "user", "content": [{"type": "text", "text": prompt}]})
        plans: list[TurnPlan] = []
        for _ in range(limit):
            plan = self.call()
            plans.append(plan)
            if plan.fault is not None:
                continue  # OpenCode retries the same call
            call = plan.tool_call
            if call is None:
                self.messages.append({"role": "assistant", "content": plan.text})
                return plans
            function = {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()}
            self.messages.append(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"id": call.call_id, "type": "function", "function": function}],
                }
            )
            if call.name == STRUCTURED_OUTPUT_TOOL:
                return plans  # OpenCode ends the turn on the structured answer
            self.messages.append({"role": "tool", "tool_call_id": call.call_id, "content": result})
        raise AssertionError(f"no answer after {limit} calls")
