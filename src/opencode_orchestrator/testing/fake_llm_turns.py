"""What the fake LLM answers to one chat request, and the wire bodies for it.

Pure functions, kept apart from the HTTP plumbing in
:mod:`~opencode_orchestrator.testing.fake_llm` so the decisions can be unit
tested without a server. One turn of OpenCode may be several requests (a tool
call, then the answer after OpenCode sends the tool's result back), so the
plan looks at what already happened after the newest user message.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Final

import orjson

from opencode_orchestrator.testing.script import (
    Fault,
    ScriptDirective,
    ScriptDirectiveError,
    ScriptedUsage,
    parse_directive,
)

__all__ = [
    "MODEL_ID",
    "STRUCTURED_OUTPUT_TOOL",
    "TITLE",
    "ToolCall",
    "TurnPlan",
    "completion_body",
    "error_body",
    "is_title_request",
    "newest_user_text",
    "plan_turn",
    "stream_chunks",
    "text_of",
]

MODEL_ID: Final = "fake-model"
#: The tool OpenCode 1.18.33 adds (with ``toolChoice: required``) for a prompt
#: sent with ``format: {type: "json_schema"}``; its arguments become ``structured``.
STRUCTURED_OUTPUT_TOOL: Final = "StructuredOutput"
#: The answer to OpenCode's title-generation request.
TITLE: Final = "Fake session title"
#: The message a provider gives for a too-long prompt; OpenCode matches its
#: wording (``maximum context length is N tokens``) to report ContextOverflowError.
CONTEXT_OVERFLOW_MESSAGE: Final = (
    "This model's maximum context length is 128000 tokens. However, your messages "
    "resulted in 131072 tokens. Please reduce the length of the messages."
)
#: Deliberately free of the words OpenCode treats as transient ("server error",
#: "rate limit", "overloaded", 5xx codes...), so with status 400 it is not retried.
API_ERROR_MESSAGE: Final = "The fake model rejects this request (scripted api_error)."


@dataclass(frozen=True)
class ToolCall:
    """A tool call the answer carries."""

    name: str
    arguments: dict[str, Any]
    call_id: str


@dataclass(frozen=True)
class TurnPlan:
    """The decided answer to one request."""

    text: str = ""
    tool_call: ToolCall | None = None
    usage: ScriptedUsage = field(default_factory=ScriptedUsage)
    delay: float = 0.0
    fault: Fault | None = None
    title: bool = False
    bad_directive: str | None = None


def newest_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last ``role: user`` message (string or text parts)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def text_of(content: object) -> str:
    """The text of a chat message's ``content`` (a string, or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def is_title_request(body: dict[str, Any]) -> bool:
    """Whether ``body`` is OpenCode's title-generation request (small model)."""
    # It carries OpenCode's title agent prompt as system text.
    messages: list[dict[str, Any]] = body.get("messages") or []
    return any(
        message.get("role") == "system" and "title generator" in text_of(message.get("content"))
        for message in messages
    )


def _tools_called_since_user(messages: list[dict[str, Any]]) -> set[str]:
    called: set[str] = set()
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        for call in message.get("tool_calls") or ():
            called.add(str(call.get("function", {}).get("name", "")))
    return called


def _offered_tools(body: dict[str, Any]) -> set[str]:
    return {str(tool.get("function", {}).get("name", "")) for tool in body.get("tools") or ()}


def plan_turn(body: dict[str, Any], fault_calls: Counter[str]) -> TurnPlan:
    """Decide the answer to a chat request body.

    Args:
        body: the request JSON.
        fault_calls: calls seen so far per prompt text; updated here. Keyed by
            the prompt so OpenCode's retries of one prompt count down its
            ``fault_count``.
    """
    messages: list[dict[str, Any]] = body.get("messages") or []
    if is_title_request(body):
        return TurnPlan(text=TITLE, title=True, usage=ScriptedUsage(input=20, output=3))
    prompt = newest_user_text(messages)
    try:
        directive = parse_directive(prompt) or ScriptDirective()
    except ScriptDirectiveError as exc:
        return TurnPlan(fault=Fault.API_ERROR, bad_directive=str(exc))
    if directive.fault is not None and directive.fault is not Fault.DIE:
        fault_calls[prompt] += 1
        if directive.fault is not Fault.RATE_LIMIT or fault_calls[prompt] <= directive.fault_count:
            return TurnPlan(fault=directive.fault, delay=directive.delay)
    called = _tools_called_since_user(messages)
    base = TurnPlan(usage=directive.usage, delay=directive.delay, fault=_die_only(directive))
    if directive.tool is not None and directive.tool.name not in called:
        call = ToolCall(directive.tool.name, dict(directive.tool.args), _call_id())
        return replace(base, tool_call=call)
    if (
        directive.structured is not None
        and STRUCTURED_OUTPUT_TOOL in _offered_tools(body)
        and STRUCTURED_OUTPUT_TOOL not in called
    ):
        call = ToolCall(STRUCTURED_OUTPUT_TOOL, dict(directive.structured), _call_id())
        return replace(base, tool_call=call)
    return replace(base, text=directive.reply)


def _die_only(directive: ScriptDirective) -> Fault | None:
    return Fault.DIE if directive.fault is Fault.DIE else None


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def error_body(plan: TurnPlan) -> tuple[int, dict[str, Any]]:
    """Status and OpenAI-style error body for a faulted plan."""
    if plan.fault is Fault.RATE_LIMIT:
        return 429, _error(
            "Rate limit reached for fake-model. Please try again later.",
            "requests",
            "rate_limit_exceeded",
        )
    if plan.fault is Fault.CONTEXT_OVERFLOW:
        return 400, _error(
            CONTEXT_OVERFLOW_MESSAGE, "invalid_request_error", "context_length_exceeded"
        )
    return 400, _error(plan.bad_directive or API_ERROR_MESSAGE, "invalid_request_error", None)


def _error(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _usage_body(usage: ScriptedUsage) -> dict[str, Any]:
    # OpenCode reports input net of cached tokens and output net of reasoning,
    # so the wire counts include them for the scripted numbers to come back out.
    prompt = usage.input + usage.cache_read
    completion = usage.output + usage.reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
    }


def _chunk(created: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _pieces(text: str) -> list[str]:
    # A few deltas rather than one, so clients see message.part.delta streaming.
    words = text.split(" ")
    step = max(1, len(words) // 3)
    groups = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
    return [g + (" " if i < len(groups) - 1 else "") for i, g in enumerate(groups)]


def stream_chunks(plan: TurnPlan, created: int) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer, usage last."""
    yield _chunk(created, {"role": "assistant", "content": ""}, None)
    if plan.tool_call is not None:
        call = plan.tool_call
        function = {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()}
        delta = {
            "tool_calls": [
                {"index": 0, "id": call.call_id, "type": "function", "function": function}
            ]
        }
        yield _chunk(created, delta, None)
        yield _chunk(created, {}, "tool_calls")
    else:
        for piece in _pieces(plan.text):
            yield _chunk(created, {"content": piece}, None)
        yield _chunk(created, {}, "stop")
    final = _chunk(created, {}, None)
    final["choices"] = []
    final["usage"] = _usage_body(plan.usage)
    yield final


def completion_body(plan: TurnPlan) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` for the plan."""
    message: dict[str, Any] = {"role": "assistant", "content": plan.text or None}
    finish = "stop"
    if plan.tool_call is not None:
        call = plan.tool_call
        function = {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()}
        message["tool_calls"] = [{"id": call.call_id, "type": "function", "function": function}]
        finish = "tool_calls"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage_body(plan.usage),
    }
