"""Builders of OpenCode's JSON documents: Session, messages, parts, errors.

Each function returns the plain dict the real server would send, with exactly
the fields of the matching ``#/components/schemas/...`` entry of OpenCode's
OpenAPI document (most say ``additionalProperties: false``). Records stay
plain dicts because they go to JSON, to sqlite and onto the event bus
unchanged; typing them as models would only add copies.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final

from opencode_orchestrator.sim.ids import IdKind, new_id

__all__ = [
    "MODEL_ID",
    "OPENCODE_VERSION",
    "PROVIDER_ID",
    "Json",
    "api_error",
    "assistant_message",
    "compaction_part",
    "connection_lost_error",
    "context_overflow_error",
    "message_aborted_error",
    "now_ms",
    "session_info",
    "step_finish_part",
    "step_start_part",
    "text_part",
    "tool_part",
    "unknown_error",
    "user_message",
]

Json = dict[str, Any]

OPENCODE_VERSION: Final = "1.18.33"
PROVIDER_ID: Final = "sim"
MODEL_ID: Final = "sim-model"
_SLUG_WORDS: Final = (
    ("brave", "calm", "eager", "gentle", "happy", "keen", "lucky", "quiet", "swift", "witty"),
    (
        "badger",
        "comet",
        "falcon",
        "harbor",
        "lantern",
        "meadow",
        "otter",
        "river",
        "tiger",
        "willow",
    ),
)


def now_ms() -> int:
    """Wall-clock milliseconds, OpenCode's unit for every ``time`` field."""
    return int(time.time() * 1000)


def _slug(session_id: str) -> str:
    # Derived from the id's random tail: stable for a session, varied across sessions.
    digest = sum(ord(c) * (i + 1) for i, c in enumerate(session_id[-14:]))
    first, second = _SLUG_WORDS
    return f"{first[digest % len(first)]}-{second[(digest // 7) % len(second)]}"


def session_info(
    *,
    directory: str,
    project_id: str,
    title: str | None,
    parent_id: str | None,
    extra: Json | None = None,
) -> Json:
    """A new ``Session``: title defaults as OpenCode's does (``New session - <ISO time>``)."""
    session_id = new_id(IdKind.SESSION)
    created = now_ms()
    if title is None:
        kind = "Child session" if parent_id else "New session"
        stamp = datetime.fromtimestamp(created / 1000, UTC).isoformat(timespec="milliseconds")
        title = f"{kind} - {stamp.replace('+00:00', 'Z')}"
    info: Json = {
        "id": session_id,
        "slug": _slug(session_id),
        "projectID": project_id,
        "directory": directory,
        "path": "",
        "cost": 0,
        "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        "title": title,
        "version": OPENCODE_VERSION,
        "time": {"created": created, "updated": created},
    }
    if parent_id is not None:
        info["parentID"] = parent_id
    info.update(extra or {})
    return info


def user_message(
    session_id: str,
    *,
    agent: str,
    message_id: str | None = None,
    format_: Json | None = None,
    system: str | None = None,
    tools: dict[str, bool] | None = None,
) -> Json:
    """A ``UserMessage`` info."""
    info: Json = {
        "id": message_id or new_id(IdKind.MESSAGE),
        "sessionID": session_id,
        "role": "user",
        "time": {"created": now_ms()},
        "agent": agent,
        "model": {"providerID": PROVIDER_ID, "modelID": MODEL_ID},
    }
    if format_ is not None:
        info["format"] = format_
    if system is not None:
        info["system"] = system
    if tools is not None:
        info["tools"] = tools
    return info


def assistant_message(session_id: str, *, parent_id: str, agent: str, directory: str) -> Json:
    """An ``AssistantMessage`` info as it is first announced: no tokens spent yet."""
    return {
        "id": new_id(IdKind.MESSAGE),
        "sessionID": session_id,
        "role": "assistant",
        "time": {"created": now_ms()},
        "parentID": parent_id,
        "modelID": MODEL_ID,
        "providerID": PROVIDER_ID,
        "mode": agent,
        "agent": agent,
        "path": {"cwd": directory, "root": directory},
        "cost": 0,
        "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
    }


def _part(session_id: str, message_id: str, kind: str) -> Json:
    return {
        "id": new_id(IdKind.PART),
        "sessionID": session_id,
        "messageID": message_id,
        "type": kind,
    }


def text_part(session_id: str, message_id: str, text: str, *, timed: bool) -> Json:
    """A ``TextPart``; an assistant's (``timed``) carries ``time.start``."""
    part = _part(session_id, message_id, "text") | {"text": text}
    if timed:
        part["time"] = {"start": now_ms()}
    return part


def step_start_part(session_id: str, message_id: str) -> Json:
    """A ``StepStartPart``."""
    return _part(session_id, message_id, "step-start")


def step_finish_part(
    session_id: str, message_id: str, *, reason: str, tokens: Json, cost: float
) -> Json:
    """A ``StepFinishPart`` with the step's tokens and cost."""
    return _part(session_id, message_id, "step-finish") | {
        "reason": reason,
        "cost": cost,
        "tokens": tokens,
    }


def tool_part(session_id: str, message_id: str, tool: str) -> Json:
    """A ``ToolPart`` in state ``pending`` (its input is not streamed yet, as in OpenCode)."""
    return _part(session_id, message_id, "tool") | {
        "callID": new_id(IdKind.TOOL_CALL),
        "tool": tool,
        "state": {"status": "pending", "input": {}, "raw": ""},
    }


def compaction_part(session_id: str, message_id: str) -> Json:
    """A ``CompactionPart`` of an automatic compaction forced by an overflow."""
    return _part(session_id, message_id, "compaction") | {"auto": True, "overflow": True}


def api_error(message: str, *, status_code: int = 500, retryable: bool = False) -> Json:
    """An ``APIError``."""
    return {
        "name": "APIError",
        "data": {"message": message, "statusCode": status_code, "isRetryable": retryable},
    }


def connection_lost_error() -> Json:
    """The ``APIError`` OpenCode ends with when the provider's stream keeps dying."""
    return {
        "name": "APIError",
        "data": {
            "message": (
                "Cannot connect to API: The socket connection was closed unexpectedly. For more "
                "information, pass `verbose: true` in the second argument to fetch()"
            ),
            "isRetryable": True,
        },
    }


def message_aborted_error() -> Json:
    """A ``MessageAbortedError``."""
    return {"name": "MessageAbortedError", "data": {"message": "Aborted"}}


def context_overflow_error() -> Json:
    """A ``ContextOverflowError``."""
    return {
        "name": "ContextOverflowError",
        "data": {
            "message": (
                "This model's maximum context length is 128000 tokens. However, your messages "
                "resulted in 131072 tokens. Please reduce the length of the messages."
            )
        },
    }


def unknown_error(message: str) -> Json:
    """An ``UnknownError``."""
    return {"name": "UnknownError", "data": {"message": message}}
