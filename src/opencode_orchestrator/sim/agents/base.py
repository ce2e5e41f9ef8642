"""What an agent decides for one turn, before the engine acts it out.

Agents are pure functions of the prompt, the configuration and a seeded
generator: they return a :class:`TurnScript` and never touch the event bus or
the disk. The engine turns a script into OpenCode's events, writes files and
persists the transcript, so every agent gets the same faithful event sequence.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from opencode_orchestrator.sim.config import SimConfig
from opencode_orchestrator.testing.script import Fault, ScriptedUsage

__all__ = ["AgentContext", "ToolCall", "TurnScript"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool the agent calls before it answers (``write``/``edit`` touch the disk)."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TurnScript:
    """One turn, decided: what to call, what to answer, and what goes wrong."""

    reply: str = "ok"
    structured: dict[str, Any] | None = None
    tools: tuple[ToolCall, ...] = ()
    delay: float = 0.0
    usage: ScriptedUsage = field(default_factory=ScriptedUsage)
    fault: Fault | None = None
    fault_count: int = 1
    hang: bool = False
    error: dict[str, Any] | None = None
    """An error the turn ends with before any answer (a malformed directive)."""


@dataclass(slots=True)
class AgentContext:
    """What agents may consult: the config, the seed, and how often a unit was reviewed."""

    config: SimConfig
    attempts: Counter[str] = field(default_factory=Counter)

    def rng(self, *key: object) -> random.Random:
        """A generator seeded by the run's seed and ``key``: same inputs, same draws."""
        return random.Random(":".join([str(self.config.seed), *map(str, key)]))  # noqa: S311

    def next_attempt(self, key: str) -> int:
        """1 for the first call with ``key``, 2 for the second, ... (per process)."""
        self.attempts[key] += 1
        return self.attempts[key]
