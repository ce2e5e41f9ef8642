"""Events of ``GET /event`` and ``GET /global/event``, discriminated on ``type``.

Each event keeps OpenCode's shape, ``{id, type, properties}``. Three fields are
added by this client: ``directory`` and ``project`` (from the ``/global/event``
wrapper, ``None`` on ``/event``) and ``synthetic`` (``True`` on the
``session.idle`` / ``session.error`` the stream makes up after a reconnect, see
:mod:`opencode_orchestrator.opencode.events`). A type this client does not know
becomes :class:`UnknownEvent`; a known type whose properties do not validate is
degraded to :class:`UnknownEvent` too (and logged by :func:`parse_event`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import Discriminator, Field, Tag, ValidationError

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.opencode.models.base import OpenCodeModel
from opencode_orchestrator.opencode.models.messages import Message, MessageError
from opencode_orchestrator.opencode.models.misc import FileDiff, PermissionRequest, Todo
from opencode_orchestrator.opencode.models.parts import Part
from opencode_orchestrator.opencode.models.sessions import Session, SessionStatus

__all__ = [
    "CommandExecutedEvent",
    "Event",
    "EventBase",
    "FileEditedEvent",
    "MessagePartDeltaEvent",
    "MessagePartRemovedEvent",
    "MessagePartUpdatedEvent",
    "MessageRemovedEvent",
    "MessageUpdatedEvent",
    "PermissionAskedEvent",
    "PermissionRepliedEvent",
    "ServerConnectedEvent",
    "ServerHeartbeatEvent",
    "SessionCompactedEvent",
    "SessionCreatedEvent",
    "SessionDeletedEvent",
    "SessionDiffEvent",
    "SessionErrorEvent",
    "SessionIdleEvent",
    "SessionStatusEvent",
    "SessionUpdatedEvent",
    "StreamReconnected",
    "TodoUpdatedEvent",
    "UnknownEvent",
    "UnparsedEvent",
    "parse_event",
    "unparsed_event",
]

_log = get_logger(__name__)


class EventBase(OpenCodeModel):
    """Fields of every event."""

    id: str | None = None
    directory: str | None = None
    project: str | None = None
    synthetic: bool = False


class _SessionRef(OpenCodeModel):
    session_id: str = Field(alias="sessionID")


class _SessionInfo(OpenCodeModel):
    session_id: str | None = Field(default=None, alias="sessionID")
    info: Session


class ServerConnectedEvent(EventBase):
    """First event of every stream."""

    type: Literal["server.connected"]
    properties: dict[str, Any] = Field(default_factory=dict)


class ServerHeartbeatEvent(EventBase):
    """Sent every ~10 s; the stream's watchdog feeds on it."""

    type: Literal["server.heartbeat"]
    properties: dict[str, Any] = Field(default_factory=dict)


class SessionCreatedEvent(EventBase):
    """A session was created."""

    type: Literal["session.created"]
    properties: _SessionInfo


class SessionUpdatedEvent(EventBase):
    """A session's info changed."""

    type: Literal["session.updated"]
    properties: _SessionInfo


class SessionDeletedEvent(EventBase):
    """A session was deleted."""

    type: Literal["session.deleted"]
    properties: _SessionInfo


class _StatusProps(_SessionRef):
    status: SessionStatus


class SessionStatusEvent(EventBase):
    """A session became busy, idle, or is retrying its provider."""

    type: Literal["session.status"]
    properties: _StatusProps


class SessionIdleEvent(EventBase):
    """A session's turn ended (``synthetic`` when made up by resync)."""

    type: Literal["session.idle"]
    properties: _SessionRef


class _ErrorProps(OpenCodeModel):
    session_id: str | None = Field(default=None, alias="sessionID")
    error: MessageError | None = None


class SessionErrorEvent(EventBase):
    """A session's turn failed (``synthetic`` when made up by resync)."""

    type: Literal["session.error"]
    properties: _ErrorProps


class _DiffProps(_SessionRef):
    diff: list[FileDiff] = Field(default_factory=list)


class SessionDiffEvent(EventBase):
    """The files a session changed."""

    type: Literal["session.diff"]
    properties: _DiffProps


class SessionCompactedEvent(EventBase):
    """A session was summarized."""

    type: Literal["session.compacted"]
    properties: _SessionRef


class _MessageProps(_SessionRef):
    info: Message


class MessageUpdatedEvent(EventBase):
    """A message was created or changed (tokens, cost, error, completion)."""

    type: Literal["message.updated"]
    properties: _MessageProps


class _MessageRefProps(_SessionRef):
    message_id: str = Field(alias="messageID")


class MessageRemovedEvent(EventBase):
    """A message was deleted."""

    type: Literal["message.removed"]
    properties: _MessageRefProps


class _PartProps(_SessionRef):
    part: Part
    time: float | None = None


class MessagePartUpdatedEvent(EventBase):
    """A part was created or changed."""

    type: Literal["message.part.updated"]
    properties: _PartProps


class _PartRefProps(_MessageRefProps):
    part_id: str = Field(alias="partID")


class MessagePartRemovedEvent(EventBase):
    """A part was deleted."""

    type: Literal["message.part.removed"]
    properties: _PartRefProps


class _DeltaProps(_PartRefProps):
    field: str
    delta: str


class MessagePartDeltaEvent(EventBase):
    """Streamed text appended to ``field`` of a part."""

    type: Literal["message.part.delta"]
    properties: _DeltaProps


class _TodoProps(_SessionRef):
    todos: list[Todo] = Field(default_factory=list)


class TodoUpdatedEvent(EventBase):
    """A session's todo list changed."""

    type: Literal["todo.updated"]
    properties: _TodoProps


class _CommandProps(_MessageRefProps):
    name: str
    arguments: str = ""


class CommandExecutedEvent(EventBase):
    """A slash command ran."""

    type: Literal["command.executed"]
    properties: _CommandProps


class PermissionAskedEvent(EventBase):
    """A tool waits for a permission reply (``POST /permission/:id/reply``)."""

    type: Literal["permission.asked"]
    properties: PermissionRequest


class _RepliedProps(_SessionRef):
    request_id: str = Field(alias="requestID")
    reply: str


class PermissionRepliedEvent(EventBase):
    """A permission request was answered."""

    type: Literal["permission.replied"]
    properties: _RepliedProps


class _FileProps(OpenCodeModel):
    file: str


class FileEditedEvent(EventBase):
    """A file was edited by a tool."""

    type: Literal["file.edited"]
    properties: _FileProps


class _ReconnectProps(OpenCodeModel):
    attempts: int
    downtime: float
    reason: str


class StreamReconnected(EventBase):
    """Made by the client, not the server: the stream was down and is back.

    ``properties.attempts`` counts the connects tried since the drop,
    ``properties.downtime`` is seconds between the drop and the new connect,
    ``properties.reason`` says why the old stream was dropped.
    """

    type: Literal["client.reconnected"] = "client.reconnected"
    properties: _ReconnectProps
    synthetic: bool = True


class UnknownEvent(EventBase):
    """An event of a type this client does not model; ``properties`` kept as sent."""

    type: str
    properties: dict[str, Any] = Field(default_factory=dict)


class UnparsedEvent(EventBase):
    """An event of a type the consumer did not ask to have parsed (``events(parse=...)``).

    Its ``properties`` are the JSON object as sent, unvalidated: enough to tell
    which session it concerns (see :func:`event_session_id`) without paying for
    a model of every event on a busy server.
    """

    type: str
    properties: dict[str, Any] = Field(default_factory=dict)


_MODELS: dict[str, type[EventBase]] = {
    "server.connected": ServerConnectedEvent,
    "server.heartbeat": ServerHeartbeatEvent,
    "session.created": SessionCreatedEvent,
    "session.updated": SessionUpdatedEvent,
    "session.deleted": SessionDeletedEvent,
    "session.status": SessionStatusEvent,
    "session.idle": SessionIdleEvent,
    "session.error": SessionErrorEvent,
    "session.diff": SessionDiffEvent,
    "session.compacted": SessionCompactedEvent,
    "message.updated": MessageUpdatedEvent,
    "message.removed": MessageRemovedEvent,
    "message.part.updated": MessagePartUpdatedEvent,
    "message.part.removed": MessagePartRemovedEvent,
    "message.part.delta": MessagePartDeltaEvent,
    "todo.updated": TodoUpdatedEvent,
    "command.executed": CommandExecutedEvent,
    "permission.asked": PermissionAskedEvent,
    "permission.replied": PermissionRepliedEvent,
    "file.edited": FileEditedEvent,
}
# StreamReconnected is made by the client only: a server event of that type stays unknown.


def _event_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in _MODELS else "unknown"


Event = Annotated[
    Annotated[ServerConnectedEvent, Tag("server.connected")]
    | Annotated[ServerHeartbeatEvent, Tag("server.heartbeat")]
    | Annotated[SessionCreatedEvent, Tag("session.created")]
    | Annotated[SessionUpdatedEvent, Tag("session.updated")]
    | Annotated[SessionDeletedEvent, Tag("session.deleted")]
    | Annotated[SessionStatusEvent, Tag("session.status")]
    | Annotated[SessionIdleEvent, Tag("session.idle")]
    | Annotated[SessionErrorEvent, Tag("session.error")]
    | Annotated[SessionDiffEvent, Tag("session.diff")]
    | Annotated[SessionCompactedEvent, Tag("session.compacted")]
    | Annotated[MessageUpdatedEvent, Tag("message.updated")]
    | Annotated[MessageRemovedEvent, Tag("message.removed")]
    | Annotated[MessagePartUpdatedEvent, Tag("message.part.updated")]
    | Annotated[MessagePartRemovedEvent, Tag("message.part.removed")]
    | Annotated[MessagePartDeltaEvent, Tag("message.part.delta")]
    | Annotated[TodoUpdatedEvent, Tag("todo.updated")]
    | Annotated[CommandExecutedEvent, Tag("command.executed")]
    | Annotated[PermissionAskedEvent, Tag("permission.asked")]
    | Annotated[PermissionRepliedEvent, Tag("permission.replied")]
    | Annotated[FileEditedEvent, Tag("file.edited")]
    | Annotated[StreamReconnected, Tag("client.reconnected")]
    | Annotated[UnknownEvent, Tag("unknown")]
    | Annotated[UnparsedEvent, Tag("unparsed")],
    Discriminator(_event_tag),
]
"""Any event the stream yields."""


def parse_event(data: dict[str, Any]) -> Event:
    """Parse one event object (already unwrapped from ``/global/event``'s ``payload``).

    Args:
        data: ``{id?, type, properties}`` plus, for global events, ``directory`` and
            ``project`` copied from the wrapper.

    Returns:
        The typed event; :class:`UnknownEvent` for an unknown type, or for a known
        type whose properties no longer match this client's model.

    Raises:
        TypeError: ``data`` has no string ``type``; the stream logs and skips it.
    """
    kind = data.get("type")
    if not isinstance(kind, str):
        raise TypeError("event has no string 'type'")
    # The model picked by a dict lookup: what the discriminator of ``Event`` picks,
    # without a Python callback inside every validation.
    model = _MODELS.get(kind, UnknownEvent)
    try:
        return cast("Event", model.model_validate(data))
    except ValidationError as exc:
        _log.warning(
            "opencode.event.shape_mismatch",
            event_type=kind,
            errors=exc.error_count(),
            detail=str(exc),
        )
        props = data.get("properties")
        return UnknownEvent(
            type=kind,
            id=data.get("id") if isinstance(data.get("id"), str) else None,
            properties=props if isinstance(props, dict) else {},
            directory=data.get("directory") if isinstance(data.get("directory"), str) else None,
        )


_UNPARSED_FIELDS = frozenset(UnparsedEvent.model_fields)
_new = object.__new__
_set = object.__setattr__


def unparsed_event(kind: str, data: dict[str, Any]) -> UnparsedEvent:
    """``data`` (an event object as sent, of type ``kind``) as an :class:`UnparsedEvent`.

    No validation: ``properties`` is kept if it is an object (else ``{}``), and
    ``id``, ``directory`` and ``project`` if they are strings. The result equals
    ``UnparsedEvent.model_construct`` of those fields, built in a third of the time
    (half the events of a turn are left unparsed, so this is on the hot path).
    """
    props = data.get("properties")
    ident = data.get("id")
    directory = data.get("directory")
    project = data.get("project")
    # What model_construct does, minus its loop over the fields and their defaults:
    # the four slots every pydantic model instance has (tests/opencode/test_models.py
    # checks the result against model_construct).
    event = _new(UnparsedEvent)
    _set(
        event,
        "__dict__",
        {
            "id": ident if isinstance(ident, str) else None,
            "directory": directory if isinstance(directory, str) else None,
            "project": project if isinstance(project, str) else None,
            "synthetic": False,
            "type": kind,
            "properties": props if isinstance(props, dict) else {},
        },
    )
    _set(event, "__pydantic_fields_set__", set(_UNPARSED_FIELDS))
    _set(event, "__pydantic_extra__", {})
    _set(event, "__pydantic_private__", None)
    return event
