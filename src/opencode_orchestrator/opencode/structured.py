"""Structured output: a pydantic model in, OpenCode's ``json_schema`` format out, and back.

OpenCode asks the model for JSON matching ``OutputFormatJsonSchema.schema``
(retrying up to ``retryCount`` times itself) and puts the result in the
assistant message's ``structured`` field. Both ways that can fail end in
:class:`~opencode_orchestrator.opencode.errors.OpenCodeStructuredOutputError`:
the server gave up (the message carries ``StructuredOutputError``), or what it
returned does not validate against the model here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from opencode_orchestrator.opencode.errors import (
    OpenCodeProtocolError,
    OpenCodeStructuredOutputError,
)
from opencode_orchestrator.opencode.models import (
    AssistantMessage,
    MessageErrorName,
    MessageWithParts,
    Part,
)

__all__ = ["StructuredResult", "json_schema_format", "parse_structured"]

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class StructuredResult(Generic[T]):
    """The validated value and the message it came from.

    Attributes:
        value: ``structured`` parsed into the requested model.
        message: The assistant message (tokens, cost, finish).
        parts: The message's parts.
    """

    value: T
    message: AssistantMessage
    parts: list[Part] = field(default_factory=list)


def json_schema_format(
    output_type: type[BaseModel], *, retry_count: int | None = None
) -> dict[str, Any]:
    """OpenCode's ``OutputFormatJsonSchema`` body for ``output_type``.

    Args:
        output_type: The pydantic model the answer must match.
        retry_count: How many times OpenCode re-asks the model after invalid output
            (``retryCount``); the server's default when ``None``.
    """
    body: dict[str, Any] = {"type": "json_schema", "schema": output_type.model_json_schema()}
    if retry_count is not None:
        if retry_count < 0:
            raise ValueError("retry_count must not be negative")
        body["retryCount"] = retry_count
    return body


def parse_structured(result: MessageWithParts, output_type: type[T]) -> StructuredResult[T]:
    """Validate the ``structured`` field of a blocking prompt's answer.

    Raises:
        OpenCodeStructuredOutputError: The message carries ``StructuredOutputError``,
            has no ``structured`` data, or the data does not validate.
        OpenCodeAPIError: The message carries another error (aborted, provider...).
        OpenCodeProtocolError: The answer is not an assistant message.
    """
    info = result.assistant
    if info is None:
        raise OpenCodeProtocolError("a prompt's answer is not an assistant message")
    error = info.error
    if error is not None and error.name != MessageErrorName.STRUCTURED_OUTPUT:
        info.raise_for_error()
    if error is not None:
        raise OpenCodeStructuredOutputError(
            error.name, error.data, session_id=info.session_id, message_id=info.id
        )
    if info.structured is None:
        raise OpenCodeStructuredOutputError(
            MessageErrorName.STRUCTURED_OUTPUT.value,
            {"message": "the assistant message has no structured output"},
            session_id=info.session_id,
            message_id=info.id,
        )
    try:
        value = output_type.model_validate(info.structured)
    except ValidationError as exc:
        raise OpenCodeStructuredOutputError(
            MessageErrorName.STRUCTURED_OUTPUT.value,
            {"message": f"structured output does not match {output_type.__name__}: {exc}"},
            session_id=info.session_id,
            message_id=info.id,
            validation_error=exc,
        ) from exc
    return StructuredResult(value=value, message=info, parts=list(result.parts))
