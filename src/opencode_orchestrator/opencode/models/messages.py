"""Messages: user and assistant info, the error object, and ``{info, parts}`` pairs."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from opencode_orchestrator.opencode.errors import OpenCodeAPIError, api_error_for
from opencode_orchestrator.opencode.models.base import OpenCodeModel, RequestModel
from opencode_orchestrator.opencode.models.parts import Part, TextPart

__all__ = [
    "AssistantMessage",
    "CacheTokens",
    "Message",
    "MessageError",
    "MessageErrorName",
    "MessageWithParts",
    "ModelRef",
    "Tokens",
    "UnknownMessage",
    "UserMessage",
]


class ModelRef(RequestModel):
    """A model as prompts name it: ``{providerID, modelID}``."""

    # serialization_alias only: callers build it with Python names.
    provider_id: str = Field(serialization_alias="providerID")
    model_id: str = Field(serialization_alias="modelID")


class MessageErrorName(StrEnum):
    """The error names OpenCode 1.18.33 puts on assistant messages."""

    PROVIDER_AUTH = "ProviderAuthError"
    UNKNOWN = "UnknownError"
    OUTPUT_LENGTH = "MessageOutputLengthError"
    ABORTED = "MessageAbortedError"
    STRUCTURED_OUTPUT = "StructuredOutputError"
    CONTEXT_OVERFLOW = "ContextOverflowError"
    CONTENT_FILTER = "ContentFilterError"
    API = "APIError"


class MessageError(OpenCodeModel):
    """An error object ``{name, data: {message, ...}}``; match on ``name``, not the text."""

    name: str
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def kind(self) -> MessageErrorName | None:
        """The known error name, or ``None`` for a name newer than this client."""
        try:
            return MessageErrorName(self.name)
        except ValueError:
            return None

    @property
    def message(self) -> str | None:
        """``data.message``, when present."""
        value = self.data.get("message")
        return value if isinstance(value, str) else None

    def to_exception(
        self, *, session_id: str | None = None, message_id: str | None = None
    ) -> OpenCodeAPIError:
        """The typed :class:`OpenCodeAPIError` subclass for this error."""
        return api_error_for(self.name, self.data, session_id=session_id, message_id=message_id)


class CacheTokens(OpenCodeModel):
    """Prompt-cache token counts."""

    read: float = 0
    write: float = 0


class Tokens(OpenCodeModel):
    """Token counts of a message or step."""

    input: float = 0
    output: float = 0
    reasoning: float = 0
    cache: CacheTokens = Field(default_factory=CacheTokens)
    total: float | None = None


class MessageTime(OpenCodeModel):
    """Timestamps in milliseconds since the epoch."""

    created: float
    completed: float | None = None


class UserMessage(OpenCodeModel):
    """``components/schemas/UserMessage``."""

    role: Literal["user"]
    id: str
    session_id: str = Field(alias="sessionID")
    time: MessageTime
    agent: str | None = None
    model: dict[str, Any] | None = None


class AssistantMessage(OpenCodeModel):
    """``components/schemas/AssistantMessage``: cost, tokens, finish, error, structured."""

    role: Literal["assistant"]
    id: str
    session_id: str = Field(alias="sessionID")
    time: MessageTime
    parent_id: str | None = Field(default=None, alias="parentID")
    model_id: str | None = Field(default=None, alias="modelID")
    provider_id: str | None = Field(default=None, alias="providerID")
    agent: str | None = None
    mode: str | None = None
    cost: float = 0.0
    tokens: Tokens = Field(default_factory=Tokens)
    finish: str | None = None
    error: MessageError | None = None
    structured: Any = None

    def raise_for_error(self) -> None:
        """Raise the typed :class:`OpenCodeAPIError` if the message carries an error."""
        if self.error is not None:
            raise self.error.to_exception(session_id=self.session_id, message_id=self.id)


class UnknownMessage(OpenCodeModel):
    """A message whose ``role`` this client does not know."""

    role: str
    id: str | None = None


def _role_tag(value: Any) -> str:
    role = value.get("role") if isinstance(value, dict) else getattr(value, "role", None)
    return role if role in ("user", "assistant") else "unknown"


Message = Annotated[
    Annotated[UserMessage, Tag("user")]
    | Annotated[AssistantMessage, Tag("assistant")]
    | Annotated[UnknownMessage, Tag("unknown")],
    Discriminator(_role_tag),
]
"""``components/schemas/Message``, discriminated on ``role``."""


class MessageWithParts(OpenCodeModel):
    """A message and its parts, as ``{info, parts}``."""

    info: Message
    parts: list[Part] = Field(default_factory=list)

    @property
    def assistant(self) -> AssistantMessage | None:
        """``info`` when it is an assistant message."""
        return self.info if isinstance(self.info, AssistantMessage) else None

    @property
    def text(self) -> str:
        """The concatenated text parts (synthetic and ignored ones left out)."""
        return "".join(
            p.text
            for p in self.parts
            if isinstance(p, TextPart) and not p.synthetic and not p.ignored
        )

    def raise_for_error(self) -> None:
        """Raise the typed :class:`OpenCodeAPIError` if ``info`` carries an error."""
        if isinstance(self.info, AssistantMessage):
            self.info.raise_for_error()
