"""One event stream for the whole mission, fanned out to the turn watching each session.

OpenCode sends every event of a project on one SSE stream. The router reads
it once and hands each event to the listener registered for its session, on
the router's task and synchronously: listeners only update their own state and
set flags, so a thousand sessions cost one parse per event and no queues.

A stream reconnect is told to every listener (:meth:`Listener.on_reconnect`):
events were lost meanwhile, so each re-probes its session. The underlying
:class:`~opencode_orchestrator.opencode.events.EventStream` also resyncs the
sessions it was told to watch (synthetic ``session.idle``/``session.error``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.opencode.client import OpenCodeClient
from opencode_orchestrator.opencode.events import EventStream
from opencode_orchestrator.opencode.models import Event, StreamReconnected

__all__ = ["WATCHED_TYPES", "EventRouter", "Listener", "session_of", "watched"]

_log = get_logger(__name__)


class Listener(Protocol):
    """What the router feeds: the watcher of one session's turn."""

    def on_event(self, event: Event) -> None:
        """An event of the listener's session (called on the router's task)."""

    def on_reconnect(self) -> None:
        """The stream reconnected: events may have been lost."""


WATCHED_TYPES = frozenset({"message.updated", "message.part.updated", "permission.asked"})
"""Event types a turn's watcher reads the content of, besides those the stream always
parses (status, idle, error); any other event only tells that its session is alive."""


def watched(kind: str, properties: dict[str, Any]) -> bool:
    """Whether a turn's watcher reads this event's content (else it is left unparsed).

    Of the parts, only tools matter, and only once they ended (a file written, a
    tool error): text, reasoning and step parts are half of a turn's events, and
    a tool's pending and running updates two thirds of the rest.
    """
    if kind == "message.part.updated":
        part = properties.get("part")
        if not isinstance(part, dict) or part.get("type") != "tool":
            return False
        state = part.get("state")
        return isinstance(state, dict) and state.get("status") in _TOOL_ENDED
    return kind in WATCHED_TYPES


_TOOL_ENDED = frozenset({"completed", "error"})


def session_of(event: Event) -> str | None:
    """The session an event is about, or ``None`` (server and file events)."""
    props = getattr(event, "properties", None)
    if props is None:
        return None
    if isinstance(props, dict):
        value = props.get("sessionID")
        for holder in ("part", "info"):
            if value is None and isinstance(props.get(holder), dict):
                value = props[holder].get("sessionID")
        return value if isinstance(value, str) else None
    sid = getattr(props, "session_id", None)
    if sid is not None:
        return str(sid)
    part = getattr(props, "part", None)
    sid = getattr(part, "session_id", None)
    return str(sid) if sid is not None else None


class EventRouter:
    """Reads a client's ``/event`` stream and dispatches events by session."""

    def __init__(
        self, client: OpenCodeClient, *, idle_timeout: float = 30.0, patience: float | None = None
    ) -> None:
        """Route ``client``'s events; a stream silent for ``idle_timeout`` s is reopened.

        ``patience``: seconds OpenCode may stay unreachable before :meth:`run` raises
        (the mission's ``timeouts.server_patience``; ``None``: the stream's default).
        """
        self._client = client
        self._idle_timeout = idle_timeout
        self._patience = patience
        self._listeners: dict[str, Listener] = {}
        self._stream: EventStream | None = None
        self._observers: list[Callable[[Event], None]] = []
        self.events = 0

    def listen(self, session_id: str, listener: Listener) -> None:
        """Send ``session_id``'s events to ``listener`` (replacing any earlier one)."""
        self._listeners[session_id] = listener
        if self._stream is not None:
            self._stream.watch(session_id)

    def forget(self, session_id: str, listener: Listener | None = None) -> None:
        """Stop routing ``session_id`` (only if still routed to ``listener``, when given)."""
        if listener is not None and self._listeners.get(session_id) is not listener:
            return
        self._listeners.pop(session_id, None)
        if self._stream is not None:
            self._stream.unwatch(session_id)

    def observe(self, observer: Callable[[Event], None]) -> None:
        """Also pass every event to ``observer`` (progress displays, metrics)."""
        self._observers.append(observer)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Follow the stream until cancelled; ``task_status.started()`` once subscribed.

        Raises:
            OpenCodeConnectionError: the server stayed unreachable past the stream's
                reconnect policy.
        """
        async with self._client.events(
            idle_timeout=self._idle_timeout, patience=self._patience, parse=watched
        ) as stream:
            self._stream = stream
            for session_id in self._listeners:
                stream.watch(session_id)
            await stream.subscribed()
            task_status.started()
            try:
                async for event in stream:
                    self._dispatch(event)
            finally:
                self._stream = None

    def _dispatch(self, event: Event) -> None:
        self.events += 1
        for observer in self._observers:
            observer(event)
        sid = session_of(event)
        if sid is None:
            # A reconnect names no session: asked here, not of every event (an
            # isinstance of a pydantic class is an ABC check).
            if isinstance(event, StreamReconnected):
                _log.warning("mission.events.reconnected", listeners=len(self._listeners))
                for listener in list(self._listeners.values()):
                    listener.on_reconnect()
            return
        target = self._listeners.get(sid)
        if target is not None:
            target.on_event(event)
