"""Message parts: text, reasoning, tool calls, steps; anything else stays generic.

``Part`` is a union discriminated on ``type``; a type this code does not know
parses as :class:`UnknownPart` with every field kept, never as an error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from opencode_orchestrator.opencode.models.base import OpenCodeModel

__all__ = [
    "FilePart",
    "Part",
    "PartBase",
    "ReasoningPart",
    "StepFinishPart",
    "StepStartPart",
    "SubtaskPart",
    "TextPart",
    "ToolPart",
    "ToolState",
    "UnknownPart",
]


class PartBase(OpenCodeModel):
    """Fields every part has."""

    id: str
    session_id: str = Field(alias="sessionID")
    message_id: str = Field(alias="messageID")


class TextPart(PartBase):
    """Text the model (or the user) wrote."""

    type: Literal["text"]
    text: str
    synthetic: bool | None = None
    ignored: bool | None = None


class ReasoningPart(PartBase):
    """The model's reasoning text."""

    type: Literal["reasoning"]
    text: str


class ToolState(OpenCodeModel):
    """A tool call's state: ``pending``, ``running``, ``completed`` or ``error``."""

    status: str
    input: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None
    error: str | None = None
    title: str | None = None
    metadata: dict[str, Any] | None = None


class ToolPart(PartBase):
    """One tool call and where it got to."""

    type: Literal["tool"]
    call_id: str = Field(alias="callID")
    tool: str
    state: ToolState


class StepStartPart(PartBase):
    """The start of one model step."""

    type: Literal["step-start"]
    snapshot: str | None = None


class StepFinishPart(PartBase):
    """The end of one model step, with its cost and tokens."""

    type: Literal["step-finish"]
    reason: str
    cost: float = 0.0
    tokens: dict[str, Any] = Field(default_factory=dict)


class FilePart(PartBase):
    """An attached file."""

    type: Literal["file"]
    mime: str
    url: str
    filename: str | None = None


class SubtaskPart(PartBase):
    """A sub-agent task the model started."""

    type: Literal["subtask"]
    prompt: str
    description: str
    agent: str


class UnknownPart(OpenCodeModel):
    """A part of a type this client does not model (all fields kept in ``model_extra``)."""

    type: str
    id: str | None = None


_KNOWN_PARTS = frozenset(
    {"text", "reasoning", "tool", "step-start", "step-finish", "file", "subtask"}
)


def _part_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in _KNOWN_PARTS else "unknown"


Part = Annotated[
    Annotated[TextPart, Tag("text")]
    | Annotated[ReasoningPart, Tag("reasoning")]
    | Annotated[ToolPart, Tag("tool")]
    | Annotated[StepStartPart, Tag("step-start")]
    | Annotated[StepFinishPart, Tag("step-finish")]
    | Annotated[FilePart, Tag("file")]
    | Annotated[SubtaskPart, Tag("subtask")]
    | Annotated[UnknownPart, Tag("unknown")],
    Discriminator(_part_tag),
]
"""``components/schemas/Part``, discriminated on ``type``."""
