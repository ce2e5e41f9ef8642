"""What one turn's events say: accepted, progressing, writing files, ended.

A :class:`TurnWatch` is fed its session's events by the
:class:`~opencode_orchestrator.mission.router.EventRouter` and only records
facts; the turn's own task (:mod:`~opencode_orchestrator.mission.turn_loop`) wakes
on :attr:`TurnWatch.changed` and acts on them (WAL records, shadow review,
rate-limit signals).

A turn is identified by the user message id the engine chose. Events from an
earlier turn of the same session (a late duplicate ``session.idle``) arrive
before this turn is accepted and are ignored: a turn is *accepted* only by its
own user message, an assistant message answering it, or a busy/retry status
sent after the prompt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import anyio

from opencode_orchestrator.opencode.models import (
    AssistantMessage,
    Event,
    MessagePartUpdatedEvent,
    MessageUpdatedEvent,
    PermissionAskedEvent,
    PermissionRequest,
    SessionErrorEvent,
    SessionIdleEvent,
    SessionStatusEvent,
    ToolPart,
    UnparsedEvent,
    UserMessage,
)

__all__ = ["WRITE_TOOLS", "TurnWatch", "message_tokens"]

WRITE_TOOLS = frozenset({"write", "edit", "patch", "multiedit", "apply_patch"})
"""Tools whose completion means the worker changed a file (starts the shadow review)."""


def message_tokens(message: AssistantMessage) -> int:
    """All tokens an assistant message cost (input, output, reasoning, cache)."""
    tokens = message.tokens
    if tokens.total is not None:
        return int(tokens.total)
    return int(tokens.input + tokens.output + tokens.reasoning + tokens.cache.read)


@dataclass(slots=True)
class TurnWatch:
    """The facts of one turn, as its events reveal them."""

    session_id: str
    message_id: str
    accepted_by: str | None = None
    done: bool = False
    reconnected: bool = False
    resynced: bool = False
    """Some of the turn may have gone unseen (adopted, stream reconnected, probed)."""
    rate_limits: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    assistants: dict[str, AssistantMessage] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    tool_errors: list[str] = field(default_factory=list)
    permissions: list[PermissionRequest] = field(default_factory=list)
    """Permission requests of the session not answered yet (the turn's task takes them)."""
    asked: set[str] = field(default_factory=set)
    """Ids of every permission request seen, so an event and a listing count once."""
    session_error: tuple[str, str] | None = None
    changed: anyio.Event = field(default_factory=anyio.Event)

    def _wake(self) -> None:
        self.changed.set()

    def rearm(self) -> None:
        """Make :attr:`changed` wait again (called by the turn's task before it waits)."""
        if self.changed.is_set():
            self.changed = anyio.Event()

    # -- Listener ------------------------------------------------------------------

    def on_reconnect(self) -> None:
        """Events may have been lost: the turn's task re-probes its session."""
        self.reconnected = True
        self.resynced = True
        self._wake()

    def on_event(self, event: Event) -> None:
        """Take in one event of this session."""
        self.last_activity = time.monotonic()
        if type(event) is UnparsedEvent:
            return  # most of a turn's events: only a sign of life, spared the checks below
        if isinstance(event, MessageUpdatedEvent):
            self._message(event)
        elif isinstance(event, MessagePartUpdatedEvent):
            self._part(event)
        elif isinstance(event, SessionStatusEvent):
            kind = event.properties.status.type
            if kind == "retry":
                self.rate_limits += 1
                self._accept(event.id or "session.status")
            elif kind == "busy":
                self._accept(event.id or "session.status")
            elif kind == "idle":
                self._idle()
        elif isinstance(event, SessionIdleEvent):
            self._idle()
        elif isinstance(event, PermissionAskedEvent):
            self.ask(event.properties)
        elif isinstance(event, SessionErrorEvent) and (
            self.accepted_by is not None or event.synthetic
        ):
            error = event.properties.error
            if error is not None:
                self.session_error = (error.name, _error_text(error.data))
                self._wake()

    def ask(self, request: PermissionRequest, *, again: bool = False) -> None:
        """A permission request of the session waits for an answer.

        Each is queued once, unless ``again``: a probe that still finds it
        pending (an earlier answer failed) queues it once more.
        """
        if request.id in self.asked and not again:
            return
        self.asked.add(request.id)
        self.permissions.append(request)
        self._wake()

    def _accept(self, event_id: str) -> None:
        if self.accepted_by is None:
            self.accepted_by = event_id
            self._wake()

    def _idle(self) -> None:
        if self.accepted_by is not None and not self.done:
            self.done = True
            self._wake()

    def _message(self, event: MessageUpdatedEvent) -> None:
        info = event.properties.info
        if isinstance(info, UserMessage):
            if info.id == self.message_id:
                self._accept(event.id or info.id)
        elif isinstance(info, AssistantMessage) and info.parent_id == self.message_id:
            is_new = info.id not in self.assistants
            self.assistants[info.id] = info
            self._accept(event.id or info.id)
            if is_new or info.error is not None or info.structured is not None:
                self._wake()

    def _part(self, event: MessagePartUpdatedEvent) -> None:
        part = event.properties.part
        if not isinstance(part, ToolPart) or self.accepted_by is None:
            return
        status = part.state.status
        if status == "completed" and part.tool in WRITE_TOOLS:
            path = part.state.input.get("filePath") or part.state.input.get("path")
            if isinstance(path, str) and path not in self.files:
                self.files.append(path)
                self._wake()
        elif status == "error":
            self.tool_errors.append(f"{part.tool}: {part.state.error or 'failed'}")
            self._wake()

    # -- results -------------------------------------------------------------------

    @property
    def last_assistant(self) -> AssistantMessage | None:
        """The newest assistant message of this turn."""
        if not self.assistants:
            return None
        return self.assistants[max(self.assistants)]

    def usage(self) -> tuple[int, float]:
        """Tokens and cost of every assistant message of the turn so far."""
        tokens = sum(message_tokens(m) for m in self.assistants.values())
        cost = sum(m.cost for m in self.assistants.values())
        return tokens, cost


def _error_text(data: dict[str, object]) -> str:
    message = data.get("message")
    return str(message) if message is not None else str(data)
