"""The ``@script`` directive: how a prompt tells the fake model what to do.

Tests (and the demo) must make a *real* OpenCode server and the simulator
behave the same way without a real LLM. Both read the same directive from the
text of the newest user message: a line ``@script {json}``. On a real server
the fake LLM endpoint turns it into the HTTP answers a provider would give;
the simulator acts it out directly. A prompt without a directive gets the
default: a short text reply.

Example prompt text::

    Say hello.
    @script {"reply": "hello", "delay": 0.2, "usage": {"input": 120, "output": 8}}

Fields (all optional):

``reply``       text of the assistant's answer (default ``"ok"``).
``structured``  the object to give as structured output (for a prompt sent
                with ``format: json_schema``); the fake model calls
                OpenCode's structured-output tool with it.
``tool``        a tool to call before answering: ``{"name", "args"}``
                (e.g. ``write`` with ``filePath``/``content``).
``delay``       seconds before the answer starts (a "hang" is a long delay;
                abort ends it).
``usage``       tokens reported for the answer.
``fault``       one of :class:`Fault`: ``api_error`` (the provider answers 500
                with a non-retryable error), ``rate_limit`` (429 for
                ``fault_count`` calls, then the answer), ``context_overflow``,
                ``die`` (the answer stream is cut mid-way).
``fault_count`` how many calls the fault lasts (``rate_limit`` only).
"""

from __future__ import annotations

import enum
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "DIRECTIVE_PREFIX",
    "Fault",
    "ScriptDirective",
    "ScriptDirectiveError",
    "ScriptedTool",
    "ScriptedUsage",
    "parse_directive",
    "render_directive",
]

DIRECTIVE_PREFIX: Final = "@script "


class ScriptDirectiveError(ValueError):
    """A ``@script`` line that is not valid JSON or not a valid directive."""


class Fault(enum.StrEnum):
    """A failure the fake model (or the simulator) acts out."""

    API_ERROR = "api_error"
    RATE_LIMIT = "rate_limit"
    CONTEXT_OVERFLOW = "context_overflow"
    DIE = "die"


class ScriptedTool(BaseModel):
    """A tool call the model makes before its final answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class ScriptedUsage(BaseModel):
    """Token counts reported for the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: int = Field(default=100, ge=0)
    output: int = Field(default=10, ge=0)
    reasoning: int = Field(default=0, ge=0)
    cache_read: int = Field(default=0, ge=0)


class ScriptDirective(BaseModel):
    """What the (fake) model does with one prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reply: str = "ok"
    structured: dict[str, Any] | None = None
    tool: ScriptedTool | None = None
    delay: float = Field(default=0.0, ge=0.0)
    usage: ScriptedUsage = Field(default_factory=ScriptedUsage)
    fault: Fault | None = None
    fault_count: int = Field(default=1, ge=1)


def parse_directive(text: str) -> ScriptDirective | None:
    """The directive in ``text`` (the last ``@script`` line wins), or ``None``.

    Raises:
        ScriptDirectiveError: a ``@script`` line is present but malformed; a
            test that mistypes a directive must fail loudly, not get "ok".
    """
    found: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(DIRECTIVE_PREFIX):
            found = stripped[len(DIRECTIVE_PREFIX) :]
    if found is None:
        return None
    try:
        return ScriptDirective.model_validate(orjson.loads(found))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ScriptDirectiveError(f"bad @script directive {found!r}: {exc}") from exc


def render_directive(directive: ScriptDirective) -> str:
    """The ``@script`` line that :func:`parse_directive` reads back as ``directive``."""
    body = directive.model_dump(mode="json", exclude_defaults=True)
    return DIRECTIVE_PREFIX + orjson.dumps(body).decode()
