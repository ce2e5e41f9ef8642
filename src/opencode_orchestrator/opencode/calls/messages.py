"""Calls that run turns and read messages: prompts, shell and slash commands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from opencode_orchestrator.opencode.calls.base import ClientCallsBase, drop_nulls, parse_as
from opencode_orchestrator.opencode.errors import OpenCodeBadRequestError
from opencode_orchestrator.opencode.models import AssistantMessage, MessageWithParts, ModelRef
from opencode_orchestrator.opencode.structured import (
    StructuredResult,
    json_schema_format,
    parse_structured,
)

__all__ = ["MessageCalls", "PromptParts"]

T = TypeVar("T", bound=BaseModel)

PromptParts = str | Sequence[Mapping[str, Any]]
"""A prompt: plain text, or OpenCode part inputs (``{"type": "text", "text": ...}``...)."""

_MESSAGES: TypeAdapter[list[MessageWithParts]] = TypeAdapter(list[MessageWithParts])
_MESSAGE: TypeAdapter[MessageWithParts] = TypeAdapter(MessageWithParts)


class MessageCalls(ClientCallsBase):
    """``/session/:id/message`` and its siblings; a mixin of ``OpenCodeClient``."""

    async def prompt(
        self,
        session_id: str,
        parts: PromptParts,
        *,
        agent: str | None = None,
        model: ModelRef | None = None,
        system: str | None = None,
        tools: Mapping[str, bool] | None = None,
        no_reply: bool | None = None,
        output_format: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> MessageWithParts:
        """``POST /session/:id/message``: run a turn and wait for its end (→ ``{info, parts}``).

        Uses the long read timeout (:attr:`Timeouts.prompt`); never retried once
        sent. An error of the turn is in ``result.info.error``; call
        ``result.raise_for_error()`` to raise it as a typed exception.
        """
        body = _prompt_body(
            parts,
            agent=agent,
            model=model,
            system=system,
            tools=tools,
            no_reply=no_reply,
            output_format=output_format,
            message_id=message_id,
        )
        path = f"/session/{session_id}/message"
        data = await self.http.request_json("POST", path, idempotent=False, json=body, long=True)
        return parse_as(_MESSAGE, data, "prompt result")

    async def prompt_async(
        self,
        session_id: str,
        parts: PromptParts,
        *,
        agent: str | None = None,
        model: ModelRef | None = None,
        system: str | None = None,
        tools: Mapping[str, bool] | None = None,
        no_reply: bool | None = None,
        output_format: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> None:
        """``POST /session/:id/prompt_async`` (204): start a turn; follow it with events."""
        body = _prompt_body(
            parts,
            agent=agent,
            model=model,
            system=system,
            tools=tools,
            no_reply=no_reply,
            output_format=output_format,
            message_id=message_id,
        )
        path = f"/session/{session_id}/prompt_async"
        await self.http.request("POST", path, idempotent=False, json=body)

    async def prompt_structured(
        self,
        session_id: str,
        text: PromptParts,
        output_type: type[T],
        *,
        retry_count: int | None = None,
        agent: str | None = None,
        model: ModelRef | None = None,
        system: str | None = None,
        tools: Mapping[str, bool] | None = None,
    ) -> StructuredResult[T]:
        """A blocking prompt whose answer must match ``output_type`` (``format: json_schema``).

        Raises:
            OpenCodeStructuredOutputError: The server gave up or the data does not validate.
            OpenCodeAPIError: The turn failed otherwise (aborted, provider error...).
        """
        result = await self.prompt(
            session_id,
            text,
            agent=agent,
            model=model,
            system=system,
            tools=tools,
            output_format=json_schema_format(output_type, retry_count=retry_count),
        )
        return parse_structured(result, output_type)

    async def list_messages(
        self, session_id: str, *, limit: int | None = None
    ) -> list[MessageWithParts]:
        """``GET /session/:id/message`` (oldest first; ``limit`` keeps the newest ones)."""
        path = f"/session/{session_id}/message"
        data = await self.http.request_json("GET", path, idempotent=True, params={"limit": limit})
        return parse_as(_MESSAGES, data, "message list")

    async def get_message(self, session_id: str, message_id: str) -> MessageWithParts:
        """``GET /session/:id/message/:messageID``."""
        path = f"/session/{session_id}/message/{message_id}"
        data = await self.http.request_json("GET", path, idempotent=True)
        return parse_as(_MESSAGE, data, "message")

    async def answers_to(self, session_id: str, message_id: str) -> list[AssistantMessage]:
        """The assistant messages answering user message ``message_id``, oldest first.

        Read from the newest end of the session, so it works where OpenCode
        1.18.33 refuses the whole list (400, once the session holds a prompt
        sent with ``format``): a window of the newest messages that stops short
        of that prompt is answered. The window doubles while every message in it
        answers ``message_id``; refused, it is narrowed to the largest one the
        server answers. Empty when the newest message does not answer it.
        """
        answers: list[AssistantMessage] = []
        answered = 0  # the largest window read, every message of it an answer
        refused: int | None = None  # the smallest window refused
        size = 1
        while refused is None or refused - answered > 1:
            try:
                window = await self.list_messages(session_id, limit=size)
            except OpenCodeBadRequestError:
                refused = size
            else:
                ours = _trailing_answers(window, message_id)
                if len(ours) < len(window) or len(window) < size:
                    return ours  # reached the prompt, another turn, or the first message
                answers, answered = ours, size
            size = size * 2 if refused is None else (answered + refused) // 2
        return answers

    async def last_assistant_message(
        self, session_id: str, *, limit: int = 20
    ) -> AssistantMessage | None:
        """The newest assistant message among the last ``limit`` messages, if any.

        Where OpenCode 1.18.33 refuses the list (a session holding a ``format``
        prompt), the newest message alone, if it is an assistant message.
        """
        try:
            messages = await self.list_messages(session_id, limit=limit)
        except OpenCodeBadRequestError:
            if limit == 1:
                raise
            messages = await self.list_messages(session_id, limit=1)
        found = [m.info for m in messages if isinstance(m.info, AssistantMessage)]
        if not found:
            return None
        # Times are in milliseconds: a context overflow closes one assistant message and
        # opens the failing compaction one within the same millisecond. On a tie the
        # server's order (oldest first) decides, or the error would be missed.
        _, newest = max(enumerate(found), key=lambda pair: (pair[1].time.created, pair[0]))
        return newest

    async def shell(
        self, session_id: str, command: str, *, agent: str, model: ModelRef | None = None
    ) -> MessageWithParts:
        """``POST /session/:id/shell``: run a shell command in the session (not retried)."""
        body: dict[str, Any] = {"agent": agent, "command": command}
        if model is not None:
            body["model"] = model.to_wire()
        path = f"/session/{session_id}/shell"
        data = await self.http.request_json("POST", path, idempotent=False, json=body, long=True)
        return parse_as(_MESSAGE, data, "shell result")

    async def command(
        self,
        session_id: str,
        command: str,
        arguments: str = "",
        *,
        agent: str | None = None,
        model: str | None = None,
        message_id: str | None = None,
    ) -> MessageWithParts:
        """``POST /session/:id/command``: run a slash command (``model`` is "provider/model")."""
        body = drop_nulls(
            {
                "command": command,
                "arguments": arguments,
                "agent": agent,
                "model": model,
                "messageID": message_id,
            }
        )
        path = f"/session/{session_id}/command"
        data = await self.http.request_json("POST", path, idempotent=False, json=body, long=True)
        return parse_as(_MESSAGE, data, "command result")


def _prompt_body(
    parts: PromptParts,
    *,
    agent: str | None,
    model: ModelRef | None,
    system: str | None,
    tools: Mapping[str, bool] | None,
    no_reply: bool | None,
    output_format: Mapping[str, Any] | None,
    message_id: str | None,
) -> dict[str, Any]:
    # The one place a prompt's wire body is built: the blocking and the async prompt
    # take the same options and must send them identically.
    wire_parts = [{"type": "text", "text": parts}] if isinstance(parts, str) else list(parts)
    body: dict[str, Any] = {
        "parts": [dict(p) for p in wire_parts],
        "agent": agent,
        "system": system,
        "noReply": no_reply,
        "messageID": message_id,
        "model": model.to_wire() if model is not None else None,
        "tools": dict(tools) if tools is not None else None,
        "format": dict(output_format) if output_format is not None else None,
    }
    return drop_nulls(body)


def _trailing_answers(
    window: Sequence[MessageWithParts], message_id: str
) -> list[AssistantMessage]:
    """The assistant messages answering ``message_id`` at the newest end of ``window``."""
    ours: list[AssistantMessage] = []
    for item in reversed(window):
        info = item.assistant
        if info is None or info.parent_id != message_id:
            break
        ours.append(info)
    ours.reverse()
    return ours
