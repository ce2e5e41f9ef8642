"""``OpenCodeClient``: typed async calls to one OpenCode server (1.18.33's HTTP API).

Lifecycle, enforced by :class:`ClientState`::

    NEW ──open()/__aenter__──► OPEN ──aclose()/__aexit__──► CLOSED   (final)

A NEW client refuses calls (:class:`OpenCodeStateError`); a CLOSED one refuses
calls and re-opening (:class:`OpenCodeClosedError`). Which calls are retried
is in ``docs/opencode-client.md`` and :mod:`opencode_orchestrator.opencode.http`.

This module holds the lifecycle, the server and session calls and the event
stream; the message calls and the project calls are mixins from
:mod:`opencode_orchestrator.opencode.calls`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import anyio
import httpx
from pydantic import TypeAdapter

from opencode_orchestrator.opencode.calls.base import BOOL, drop_nulls, parse_as, wire_flag
from opencode_orchestrator.opencode.calls.messages import MessageCalls, PromptParts
from opencode_orchestrator.opencode.calls.project import ProjectCalls
from opencode_orchestrator.opencode.errors import (
    OpenCodeClosedError,
    OpenCodeProtocolError,
    OpenCodeStateError,
)
from opencode_orchestrator.opencode.events import EventStream, ParseFilter
from opencode_orchestrator.opencode.http import OpenCodeHttp, Timeouts
from opencode_orchestrator.opencode.models import (
    Health,
    PermissionRule,
    Session,
    SessionModel,
    SessionStatus,
)
from opencode_orchestrator.opencode.retry import RandomSource, RetryPolicy, Sleep

# PromptParts is re-exported: it has always been importable from here.
__all__ = ["ClientState", "OpenCodeClient", "PromptParts"]

_SESSIONS: TypeAdapter[list[Session]] = TypeAdapter(list[Session])
_STATUSES: TypeAdapter[dict[str, SessionStatus]] = TypeAdapter(dict[str, SessionStatus])
_HEALTH: TypeAdapter[Health] = TypeAdapter(Health)
_SESSION: TypeAdapter[Session] = TypeAdapter(Session)
_AGENTS: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(list[dict[str, Any]])


class ClientState(StrEnum):
    """Where an :class:`OpenCodeClient` is in its life; CLOSED is final."""

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


# The message and project calls are mixins so that each topic has a file of its own; they
# reach the server only through ``http`` below, which enforces the lifecycle for them too.
class OpenCodeClient(MessageCalls, ProjectCalls):
    """Async client of one OpenCode server; use as ``async with OpenCodeClient(url) as oc:``.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:4096``.
        password: Basic-auth password (user ``opencode``); defaults to
            ``$OPENCODE_SERVER_PASSWORD``, no auth when neither is set.
        directory: The project every request addresses (``?directory=``).
        transport: Replaces the network, e.g. ``httpx.MockTransport`` in tests;
            without one, requests go straight to aiohttp (:mod:`.transport`).
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
        self._options: dict[str, Any] = {
            "password": password,
            "transport": transport,
            "timeouts": timeouts,
            "retry": retry,
            "sleep": sleep,
            "rand": rand,
        }

    def for_directory(self, directory: str) -> OpenCodeClient:
        """A new (unopened) client of the same server, with the same settings, for ``directory``.

        OpenCode scopes sessions and events by directory; a racing strategy
        working in its own git worktree needs a client (and an event stream) of its own.
        """
        return OpenCodeClient(self.base_url, directory=directory, **self._options)

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
        return parse_as(_HEALTH, data, "health")

    async def agent_names(self) -> list[str]:
        """``GET /agent``: the names of the agents the addressed project has.

        The mission agents are among them only when the orchestrator's plugin is
        installed for the project (OpenCode 1.18.33 accepts a prompt to an unknown
        agent with 204 and then never runs it).

        Raises:
            OpenCodeProtocolError: The answer is not a list of agents with names.
        """
        data = await self.http.request_json("GET", "/agent", idempotent=True)
        agents = parse_as(_AGENTS, data, "agent list")
        names = [agent.get("name") for agent in agents]
        if not all(isinstance(name, str) for name in names):
            raise OpenCodeProtocolError("unexpected agent list shape: an agent without a name")
        return [name for name in names if isinstance(name, str)]

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
        data = await self.http.request_json(
            "POST", "/session", idempotent=False, json=drop_nulls(body)
        )
        return parse_as(_SESSION, data, "session")

    async def get_session(self, session_id: str) -> Session:
        """``GET /session/:id``."""
        data = await self.http.request_json("GET", f"/session/{session_id}", idempotent=True)
        return parse_as(_SESSION, data, "session")

    async def list_sessions(
        self, *, roots: bool | None = None, limit: int | None = None, search: str | None = None
    ) -> list[Session]:
        """``GET /session``."""
        params = {"roots": wire_flag(roots), "limit": limit, "search": search}
        data = await self.http.request_json("GET", "/session", idempotent=True, params=params)
        return parse_as(_SESSIONS, data, "session list")

    async def children(self, session_id: str) -> list[Session]:
        """``GET /session/:id/children``."""
        path = f"/session/{session_id}/children"
        data = await self.http.request_json("GET", path, idempotent=True)
        return parse_as(_SESSIONS, data, "children")

    async def delete_session(self, session_id: str) -> bool:
        """``DELETE /session/:id``."""
        data = await self.http.request_json("DELETE", f"/session/{session_id}", idempotent=True)
        return parse_as(BOOL, data, "delete")

    async def session_status(self) -> dict[str, SessionStatus]:
        """``GET /session/status``: busy/retry sessions by id; idle ones are left out."""
        data = await self.http.request_json("GET", "/session/status", idempotent=True)
        return parse_as(_STATUSES, data, "session status")

    async def abort(self, session_id: str) -> bool:
        """``POST /session/:id/abort`` (idempotent: retried)."""
        path = f"/session/{session_id}/abort"
        return parse_as(BOOL, await self.http.request_json("POST", path, idempotent=True), "abort")

    async def summarize(
        self, session_id: str, *, provider_id: str, model_id: str, auto: bool | None = None
    ) -> bool:
        """``POST /session/:id/summarize`` (compacts the session; not retried)."""
        body = drop_nulls({"providerID": provider_id, "modelID": model_id, "auto": auto})
        path = f"/session/{session_id}/summarize"
        data = await self.http.request_json("POST", path, idempotent=False, json=body, long=True)
        return parse_as(BOOL, data, "summarize")

    # -- events -------------------------------------------------------------------

    def events(
        self,
        *,
        global_events: bool = False,
        idle_timeout: float = 30.0,
        reconnect: RetryPolicy | None = None,
        patience: float | None = None,
        parse: ParseFilter | None = None,
    ) -> EventStream:
        """The auto-reconnecting event stream; ``async with client.events() as stream:``.

        Args:
            global_events: Subscribe to ``/global/event`` (every project) instead of ``/event``.
            idle_timeout: Seconds of silence (no event, no heartbeat) after which the
                stream counts as dropped and is reconnected; OpenCode beats every ~10 s.
            reconnect: Backoff between reconnects (``max_attempts`` is ignored: a stream
                retries until closed).
            patience: Seconds the server may stay unreachable (connects failing in a
                row, from the drop or the first try) before the stream raises the last
                error; ``None``: after 10 failed connects in a row.
            parse: The event types to parse into their models, or a predicate of
                ``(type, properties)``; any other event is yielded as an
                :class:`UnparsedEvent` (properties unvalidated). ``None`` parses
                every event. The stream's own types (status, idle, error...)
                are always parsed.
        """
        return EventStream(
            self,
            path="/global/event" if global_events else "/event",
            idle_timeout=idle_timeout,
            reconnect=reconnect,
            patience=patience,
            parse=parse,
        )
