"""``OpenCodeClient``: typed async calls to one OpenCode server (1.18.33's HTTP API).

Lifecycle, enforced by :class:`ClientState`::

    NEW ──open()/__aenter__──► OPEN ──aclose()/__aexit__──► CLOSED   (final)

A NEW client refuses calls (:class:`OpenCodeStateError`); a CLOSED one refuses
calls and re-opening (:class:`OpenCodeClosedError`). Which calls are retried
is in ``docs/opencode-client.md`` and :mod:`opencode_orchestrator.opencode.http`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from opencode_orchestrator.opencode.errors import (
    OpenCodeClosedError,
    OpenCodeProtocolError,
    OpenCodeStateError,
)
from opencode_orchestrator.opencode.events import EventStream
from opencode_orchestrator.opencode.http import OpenCodeHttp, Timeouts
from opencode_orchestrator.opencode.models import (
    AssistantMessage,
    FileDiff,
    Health,
    MessageWithParts,
    ModelRef,
    PermissionReply,
    PermissionRequest,
    PermissionRule,
    Session,
    SessionModel,
    SessionStatus,
    ToastVariant,
    Todo,
    Worktree,
)
from opencode_orchestrator.opencode.retry import RandomSource, RetryPolicy, Sleep
from opencode_orchestrator.opencode.structured import (
    StructuredResult,
    json_schema_format,
    parse_structured,
)

__all__ = ["ClientState", "OpenCodeClient", "PromptParts"]

T = TypeVar("T", bound=BaseModel)
M = TypeVar("M")

PromptParts = str | Sequence[Mapping[str, Any]]
"""A prompt: plain text, or OpenCode part inputs (``{"type": "text", "text": ...}``...)."""

_SESSIONS: TypeAdapter[list[Session]] = TypeAdapter(list[Session])
_MESSAGES: TypeAdapter[list[MessageWithParts]] = TypeAdapter(list[MessageWithParts])
_STATUSES: TypeAdapter[dict[str, SessionStatus]] = TypeAdapter(dict[str, SessionStatus])
_TODOS: TypeAdapter[list[Todo]] = TypeAdapter(list[Todo])
_DIFFS: TypeAdapter[list[FileDiff]] = TypeAdapter(list[FileDiff])
_PERMISSIONS: TypeAdapter[list[PermissionRequest]] = TypeAdapter(list[PermissionRequest])
_STRINGS: TypeAdapter[list[str]] = TypeAdapter(list[str])
_BOOL: TypeAdapter[bool] = TypeAdapter(bool)
_HEALTH: TypeAdapter[Health] = TypeAdapter(Health)
_SESSION: TypeAdapter[Session] = TypeAdapter(Session)
_MESSAGE: TypeAdapter[MessageWithParts] = TypeAdapter(MessageWithParts)
_WORKTREE: TypeAdapter[Worktree] = TypeAdapter(Worktree)


class ClientState(StrEnum):
    """Where an :class:`OpenCodeClient` is in its life; CLOSED is final."""

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class OpenCodeClient:
    """Async client of one OpenCode server; use as ``async with OpenCodeClient(url) as oc:``.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:4096``.
        password: Basic-auth password (user ``opencode``); defaults to
            ``$OPENCODE_SERVER_PASSWORD``, no auth when neither is set.
        directory: The project every request addresses (``?directory=``).
        transport: Replaces the network, e.g. ``httpx.MockTransport`` in tests.
        timeouts: Connect/read/prompt timeouts (:class:`Timeouts`).
        retry: Attempts and backoff of retryable failures (:class:`RetryPolicy`).
        sleep: The sleep between retries; injectable for tests.
        rand: The jitter source; injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        password: str | None = None,
        directory: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = anyio.sleep,
        rand: RandomSource = random.random,
    ) -> None:
        self._http = OpenCodeHttp(
            base_url,
            password=password,
            directory=directory,
            transport=transport,
            timeouts=timeouts,
            retry=retry,
            sleep=sleep,
            rand=rand,
        )
        self._state = ClientState.NEW
        self.sleep = sleep
        self.rand = rand

    @property
    def state(self) -> ClientState:
        """The lifecycle state."""
        return self._state

    @property
    def base_url(self) -> str:
        """The server's base URL."""
        return self._http.base_url

    @property
    def http(self) -> OpenCodeHttp:
        """The transport, for the event stream; refuses use unless OPEN."""
        if self._state is ClientState.CLOSED:
            raise OpenCodeClosedError(f"client of {self.base_url} is closed")
        if self._state is ClientState.NEW:
            raise OpenCodeStateError("client is not open; use `async with OpenCodeClient(...)`")
        return self._http

    def open(self) -> None:
        """NEW → OPEN. No I/O: the first call finds out whether the server is up.

        Raises:
            OpenCodeClosedError: The client was closed; make a new one.
            OpenCodeStateError: Already open.
        """
        if self._state is ClientState.CLOSED:
            raise OpenCodeClosedError("a closed OpenCodeClient cannot be reopened")
        if self._state is ClientState.OPEN:
            raise OpenCodeStateError("client is already open")
        self._state = ClientState.OPEN

    async def aclose(self) -> None:
        """→ CLOSED, closing the pooled connections; idempotent."""
        if self._state is ClientState.CLOSED:
            return
        self._state = ClientState.CLOSED
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- server -----------------------------------------------------------------

    async def health(self) -> Health:
        """``GET /global/health``."""
        data = await self.http.request_json("GET", "/global/health", idempotent=True)
        return _parse(_HEALTH, data, "health")

    # -- sessions ---------------------------------------------------------------

    async def create_session(
        self,
        *,
        parent_id: str | None = None,
        title: str | None = None,
        agent: str | None = None,
        model: SessionModel | None = None,
        permission: Sequence[PermissionRule] | None = None,
    ) -> Session:
        """``POST /session``; never retried once it may have reached the server."""
        body: dict[str, Any] = {"parentID": parent_id, "title": title, "agent": agent}
        if model is not None:
            body["model"] = model.to_wire()
        if permission is not None:
            body["permission"] = [rule.to_wire() for rule in permission]
        data = await self.http.request_json("POST", "/session", idempotent=False, json=_drop(body))
        return _parse(_SESSION, data, "session")

    async def get_session(self, session_id: str) -> Session:
        """``GET /session/:id``."""
        data = await self.http.request_json("GET", f"/session/{session_id}", idempotent=True)
        return _parse(_SESSION, data, "session")

    async def list_sessions(
        self, *, roots: bool | None = None, limit: int | None = None, search: str | None = None
    ) -> list[Session]:
        """``GET /session``."""
        params = {"roots": _flag(roots), "limit": limit, "search": search}
        data = await self.http.request_json("GET", "/session", idempotent=True, params=params)
        return _parse(_SESSIONS, data, "session list")

    async def children(self, session_id: str) -> list[Session]:
        """``GET /session/:id/children``."""
        path = f"/session/{session_id}/children"
        data = await self.http.request_json("GET", path, idempotent=True)
        return _parse(_SESSIONS, data, "children")

    async def delete_session(self, session_id: str) -> bool:
        """``DELETE /session/:id``."""
        data = await self.http.request_json("DELETE", f"/session/{session_id}", idempotent=True)
        return _parse(_BOOL, data, "delete")

    async def session_status(self) -> dict[str, SessionStatus]:
        """``GET /session/status``: busy/retry sessions by id; idle ones are left out."""
        data = await self.http.request_json("GET", "/session/status", idempotent=True)
        return _parse(_STATUSES, data, "session status")

    async def abort(self, session_id: str) -> bool:
        """``POST /session/:id/abort`` (idempotent: retried)."""
        path = f"/session/{session_id}/abort"
        return _parse(_BOOL, await self.http.request_json("POST", path, idempotent=True), "abort")

    async def summarize(
        self, session_id: str, *, provider_id: str, model_id: str, auto: bool | None = None
    ) -> bool:
        """``POST /session/:id/summarize`` (compacts the session; not retried)."""
        body = _drop({"providerID": provider_id, "modelID": model_id, "auto": auto})
        path = f"/session/{session_id}/summarize"
        data = await self.http.request_json("POST", path, idempotent=False, json=body, long=True)
        return _parse(_BOOL, data, "summarize")

    async def todos(self, session_id: str) -> list[Todo]:
        """``GET /session/:id/todo``."""
        data = await self.http.request_json("GET", f"/session/{session_id}/todo", idempotent=True)
        return _parse(_TODOS, data, "todo list")

    async def diff(self, session_id: str, *, message_id: str | None = None) -> list[FileDiff]:
        """``GET /session/:id/diff``."""
        path, params = f"/session/{session_id}/diff", {"messageID": message_id}
        data = await self.http.request_json("GET", path, idempotent=True, params=params)
        return _parse(_DIFFS, data, "diff")

    # -- messages ---------------------------------------------------------------

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
        return _parse(_MESSAGE, data, "prompt result")

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
        return _parse(_MESSAGES, data, "message list")

    async def get_message(self, session_id: str, message_id: str) -> MessageWithParts:
        """``GET /session/:id/message/:messageID``."""
        path = f"/session/{session_id}/message/{message_id}"
        data = await self.http.request_json("GET", path, idempotent=True)
        return _parse(_MESSAGE, data, "message")

    async def last_assistant_message(
        self, session_id: str, *, limit: int = 20
    ) -> AssistantMessage | None:
        """The newest assistant message among the last ``limit`` messages, if any."""
        messages = await self.list_messages(session_id, limit=limit)
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
        return _parse(_MESSAGE, data, "shell result")

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
        body = _drop(
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
        return _parse(_MESSAGE, data, "command result")

    # -- permissions, TUI, worktrees ----------------------------------------------

    async def list_permissions(self) -> list[PermissionRequest]:
        """``GET /permission``: pending permission requests."""
        data = await self.http.request_json("GET", "/permission", idempotent=True)
        return _parse(_PERMISSIONS, data, "permission list")

    async def reply_permission(
        self, request_id: str, reply: PermissionReply, *, message: str | None = None
    ) -> bool:
        """``POST /permission/:id/reply`` with once/always/reject (retried: idempotent)."""
        body = _drop({"reply": PermissionReply(reply).value, "message": message})
        path = f"/permission/{request_id}/reply"
        data = await self.http.request_json("POST", path, idempotent=True, json=body)
        return _parse(_BOOL, data, "permission reply")

    async def show_toast(
        self,
        message: str,
        *,
        variant: ToastVariant = ToastVariant.INFO,
        title: str | None = None,
        duration_ms: int | None = None,
    ) -> bool:
        """``POST /tui/show-toast`` (retried: showing a toast twice is harmless)."""
        body = _drop(
            {
                "message": message,
                "variant": ToastVariant(variant).value,
                "title": title,
                "duration": duration_ms,
            }
        )
        data = await self.http.request_json("POST", "/tui/show-toast", idempotent=True, json=body)
        return _parse(_BOOL, data, "toast")

    async def list_worktrees(self) -> list[str]:
        """``GET /experimental/worktree``: worktree directories."""
        data = await self.http.request_json("GET", "/experimental/worktree", idempotent=True)
        return _parse(_STRINGS, data, "worktree list")

    async def create_worktree(
        self, *, name: str | None = None, start_command: str | None = None
    ) -> Worktree:
        """``POST /experimental/worktree`` (not retried)."""
        body = _drop({"name": name, "startCommand": start_command})
        path = "/experimental/worktree"
        data = await self.http.request_json("POST", path, idempotent=False, json=body, long=True)
        return _parse(_WORKTREE, data, "worktree")

    async def remove_worktree(self, directory: str) -> bool:
        """``DELETE /experimental/worktree`` with ``{directory}``."""
        data = await self.http.request_json(
            "DELETE", "/experimental/worktree", idempotent=True, json={"directory": directory}
        )
        return _parse(_BOOL, data, "worktree remove")

    # -- events -------------------------------------------------------------------

    def events(
        self,
        *,
        global_events: bool = False,
        idle_timeout: float = 30.0,
        reconnect: RetryPolicy | None = None,
    ) -> EventStream:
        """The auto-reconnecting event stream; ``async with client.events() as stream:``.

        Args:
            global_events: Subscribe to ``/global/event`` (every project) instead of ``/event``.
            idle_timeout: Seconds of silence (no event, no heartbeat) after which the
                stream counts as dropped and is reconnected; OpenCode beats every ~10 s.
            reconnect: Backoff between reconnects (``max_attempts`` is ignored: a stream
                retries until closed).
        """
        return EventStream(
            self,
            path="/global/event" if global_events else "/event",
            idle_timeout=idle_timeout,
            reconnect=reconnect,
        )


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
    return _drop(body)


def _drop(body: dict[str, Any]) -> dict[str, Any]:
    # OpenCode's bodies are additionalProperties:false and reject explicit nulls.
    return {k: v for k, v in body.items() if v is not None}


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def _parse(adapter: TypeAdapter[M], data: Any, what: str) -> M:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise OpenCodeProtocolError(f"unexpected {what} shape: {exc}") from exc
