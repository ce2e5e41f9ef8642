"""What a turn is asked and how it ended: the values every layer of a turn passes around.

:class:`TurnRequest` and :class:`TurnOutcome` sit below the turn's logic
(:mod:`~opencode_orchestrator.mission.turns`, its loop and its end) so that each
of those modules imports them from here and none has to import another to
name them. Only data lives here: no I/O, no mission context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from opencode_orchestrator.mission.records import TurnKind, TurnStatus

__all__ = ["CONTEXT_OVERFLOW", "INTERRUPTED", "TurnOutcome", "TurnRequest"]

# The ``error_name`` of a turn cut off mid-answer: its end is told apart from
# other lost turns where it is read (turn_end) and asked again differently
# where turns are followed (turns); defined here, below both, so that neither
# imports the other.
INTERRUPTED = "Interrupted"

CONTEXT_OVERFLOW = "ContextOverflowError"
"""The ``error_name`` of a turn whose prompt and history no longer fit the model's context.

The session holds what did not fit: asked again there, it overflows again.
"""


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """What to send, to whom, and what answer to expect."""

    session: str
    kind: TurnKind
    text: str
    agent: str
    output: type[BaseModel] | None
    role: str
    unit: str | None = None
    attempt: int = 0
    priority: float = 0.0
    directory: str | None = None
    on_file: Callable[[str], None] | None = None
    """Called (on the turn's task) with each file the turn writes, first one first."""
    on_accepted: Callable[[], Awaitable[None]] | None = None
    """Awaited once, right after ``turn.accepted`` is journaled."""
    restates: TurnKind | None = None


@dataclass(slots=True)
class TurnOutcome:
    """How a turn ended and what it produced."""

    status: TurnStatus
    answer: dict[str, Any] | None = None
    error: str | None = None
    error_name: str | None = None
    tokens: int = 0
    cost: float = 0.0
    tool_errors: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    provider: str | None = None
    model: str | None = None
    """The provider and model that answered (needed to compact the session)."""

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> TurnOutcome:
        """The outcome a ``turn.ended`` payload journaled."""
        return cls(
            TurnStatus(data["status"]),
            answer=data.get("answer"),
            error=data.get("error"),
            error_name=data.get("error_name"),
            tokens=int(data.get("tokens", 0)),
            cost=float(data.get("cost", 0.0)),
            tool_errors=list(data.get("tool_errors", [])),
        )

    def record(self, turn_id: str) -> dict[str, Any]:
        """The ``turn.ended`` payload."""
        return {
            "turn": turn_id,
            "status": self.status.value,
            "tokens": self.tokens,
            "cost": self.cost,
            "error": self.error,
            "error_name": self.error_name,
            "answer": self.answer,
            "tool_errors": self.tool_errors,
        }
