"""The event stream: SSE from ``/event`` (or ``/global/event``) that survives drops.

::

    connect ──► resync ──► yield live events ──┐
       ▲          │                            │ ended / error / silent > idle_timeout
       │          └─ yields StreamReconnected, │
       │             synthetic session.error   │
       │             and session.idle          ▼
       └────────── sleep (backoff + jitter) ◄──┘

*Reconnect.* A stream that ends, errors, or stays silent longer than
``idle_timeout`` (OpenCode beats every ~10 s) is dropped and opened again
after an exponential, jittered delay; the delay resets after each successful
connect. After ``max_failures`` consecutive failed connects the last
:class:`~opencode_orchestrator.opencode.errors.OpenCodeConnectionError` is
raised to the consumer (``None``: retry until closed).

*Resync.* Events sent while the stream was down are lost, and a consumer
waiting for ``session.idle`` would wait forever. So the stream tracks the
sessions it saw busy (``session.status`` busy/retry) and those the consumer
named with :meth:`EventStream.watch`. After every connect it asks
``GET /session/status``; each tracked session no longer busy or retrying gets a
synthetic ``session.error`` (only if its last assistant message has an error)
and then a synthetic ``session.idle``, both with ``synthetic=True``, and stops
being tracked. A reconnect (not the first connect) is announced first by a
:class:`~opencode_orchestrator.opencode.models.StreamReconnected` marker. A
real ``session.idle`` may still follow a synthetic one: handle idle idempotently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import httpx
import orjson
from httpx_sse import EventSource, SSEError

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.opencode.errors import (
    OpenCodeBadRequestError,
    OpenCodeClosedError,
    OpenCodeError,
    OpenCodeHTTPError,
    OpenCodeNotFoundError,
    OpenCodeStateError,
)
from opencode_orchestrator.opencode.models import (
    Event,
    ServerConnectedEvent,
    SessionDeletedEvent,
    SessionErrorEvent,
    SessionIdleEvent,
    SessionStatusEvent,
    StreamReconnected,
    parse_event,
)
from opencode_orchestrator.opencode.models.events import unparsed_event
from opencode_orchestrator.opencode.retry import Backoff, RetryPolicy
from opencode_orchestrator.opencode.sse import SseDecoder

if TYPE_CHECKING:
    from opencode_orchestrator.opencode.client import OpenCodeClient

__all__ = ["DEFAULT_RECONNECT", "EventStream", "ParseFilter", "StreamState"]

DEFAULT_RECONNECT = RetryPolicy(base_delay=0.5, max_delay=15.0)
"""Backoff between reconnects: draws capped at 0.5, 1, 2 ... 15 s."""

_log = get_logger(__name__)


class StreamState(StrEnum):
    """Where an :class:`EventStream` is in its life; CLOSED is final."""

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


ParseFilter = Collection[str] | Callable[[str, dict[str, Any]], bool]
"""Which events to parse: their types, or a predicate of ``(type, properties as sent)``."""

_ALWAYS_PARSED = frozenset(
    {"server.connected", "session.status", "session.idle", "session.deleted", "session.error"}
)
"""What the stream itself reads (connection, busy tracking, resync), whatever ``parse`` says."""


class _StreamDroppedError(Exception):
    """The live stream ended or went silent (internal; never leaves this module)."""


class EventStream:
    """Typed OpenCode events as an async iterator; make with :meth:`OpenCodeClient.events`.

    ``async with client.events() as stream: async for event in stream: ...``
    """

    def __init__(
        self,
        client: OpenCodeClient,
        *,
        path: str = "/event",
        idle_timeout: float = 30.0,
        reconnect: RetryPolicy | None = None,
        max_failures: int | None = 10,
        patience: float | None = None,
        parse: ParseFilter | None = None,
    ) -> None:
        if idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        if patience is not None and patience < 0:
            raise ValueError("patience must be at least 0")
        self._client = client
        self._path = path
        self._global = path == "/global/event"
        self._parse = _as_predicate(parse)
        self.idle_timeout = idle_timeout
        self.max_failures = None if patience is not None else max_failures
        self.patience = patience
        """Seconds of failed connects in a row before giving up (``None``: ``max_failures``)."""
        self._backoff = Backoff(reconnect or DEFAULT_RECONNECT, client.rand)
        self._busy: set[str] = set()
        self._watched: set[str] = set()
        self._state = StreamState.NEW
        self._events: AsyncGenerator[Event | list[bytes], None] | None = None
        self._frames: deque[bytes] = deque()
        """The data of events read (a chunk's worth) and not decoded yet."""
        self._read_ahead: deque[Event] = deque()
        """Events :meth:`subscribed` read and tracked, handed out first."""
        self.reconnects = 0
        """How many times the stream came back after a drop."""

    @property
    def state(self) -> StreamState:
        """The lifecycle state."""
        return self._state

    @property
    def tracked(self) -> frozenset[str]:
        """Sessions resync will check after a reconnect (seen busy, or watched)."""
        return frozenset(self._busy | self._watched)

    def watch(self, session_id: str) -> None:
        """Track ``session_id`` until an idle (real or synthetic) is yielded for it.

        Call it for a session whose turn you started, e.g. right after
        ``prompt_async``: if the turn ends before the stream (re)connects, resync
        still yields its ``session.idle``.
        """
        self._watched.add(session_id)

    def unwatch(self, session_id: str) -> None:
        """Stop tracking ``session_id``."""
        self._watched.discard(session_id)
        self._busy.discard(session_id)

    async def __aenter__(self) -> Self:
        if self._state is StreamState.CLOSED:
            raise OpenCodeClosedError("a closed event stream cannot be reopened")
        if self._state is StreamState.OPEN:
            raise OpenCodeStateError("event stream is already open")
        self._state = StreamState.OPEN
        self._events = self._run()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the stream (and its connection); idempotent."""
        self._state = StreamState.CLOSED
        self._frames.clear()
        if self._events is not None:
            events, self._events = self._events, None
            await events.aclose()

    async def subscribed(self) -> None:
        """Return once the server has the subscription (its ``server.connected`` arrived).

        The stream connects lazily, on the first read; an event published before
        that is never seen. Await this before starting the work whose events you
        want; what is read meanwhile (resync results) is still yielded after.
        """
        while True:
            event = await self._next()
            self._read_ahead.append(event)
            if isinstance(event, ServerConnectedEvent):
                return

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if self._read_ahead:
            return self._read_ahead.popleft()
        return await self._next()

    async def _next(self) -> Event:
        # A chunk is read at once (the reading generators resume once per chunk, not
        # per event), but each of its events is decoded only when handed out, so its
        # objects live no longer than the consumer holds them: decoded ahead, a
        # chunk's worth survived garbage collections, which then cost more than the
        # parsing did. Tracked at hand-out too: busy/watch state keeps pace with the
        # consumer.
        frames = self._frames
        while True:
            if frames:
                event = self._decode(frames.popleft())
                if event is None:
                    continue
            else:
                if self._events is None:
                    if self._state is StreamState.CLOSED:
                        raise OpenCodeClosedError("event stream is closed")
                    raise OpenCodeStateError("event stream is not open; use `async with`")
                item = await self._events.__anext__()
                if isinstance(item, list):
                    frames.extend(item)
                    continue
                event = item
            self._track(event)
            return event

    async def _run(self) -> AsyncGenerator[Event | list[bytes], None]:
        connected_once = False
        failures = 0  # consecutive connects that failed
        down_since: float | None = None
        reason = ""
        while True:
            http = self._client.http  # raises once the client is closed
            live = False
            try:
                async with http.open_sse(self._path) as source:
                    live = True
                    if connected_once:
                        self.reconnects += 1
                        yield self._reconnected(failures + 1, down_since, reason)
                    connected_once, failures, down_since = True, 0, None
                    _log.info("opencode.events.connected", path=self._path)
                    async for event in self._resync():
                        yield event
                    # Only a connect that got through resync earns a fresh backoff.
                    self._backoff.reset()
                    async for frames in self._live(source):
                        yield frames
            except _StreamDroppedError as exc:
                reason = str(exc)
            except (OpenCodeError, httpx.TransportError, SSEError) as exc:
                if _is_permanent(exc):
                    raise
                reason = f"{type(exc).__name__}: {exc}"
                if not live:
                    failures += 1
                    if down_since is None:
                        down_since = anyio.current_time()
                    if self._gives_up(failures, down_since):
                        raise
            if down_since is None:
                down_since = anyio.current_time()
            delay = self._backoff.next_delay()
            _log.warning(
                "opencode.events.dropped", path=self._path, reason=reason, retry_in=round(delay, 3)
            )
            await self._client.sleep(delay)

    def _gives_up(self, failures: int, down_since: float) -> bool:
        """Whether the connects that failed in a row are enough to report the server dead."""
        if self.patience is not None:
            return anyio.current_time() - down_since >= self.patience
        return self.max_failures is not None and failures >= self.max_failures

    def _reconnected(
        self, attempts: int, down_since: float | None, reason: str
    ) -> StreamReconnected:
        now = anyio.current_time()
        downtime = max(0.0, now - (down_since if down_since is not None else now))
        _log.info("opencode.events.reconnected", attempts=attempts, downtime=round(downtime, 3))
        return StreamReconnected.model_validate(
            {"properties": {"attempts": attempts, "downtime": downtime, "reason": reason}}
        )

    async def _live(self, source: EventSource) -> AsyncIterator[list[bytes]]:
        response = source.response
        kind = response.headers.get("content-type", "")
        if "text/event-stream" not in kind:
            raise SSEError(f"expected text/event-stream, got {kind!r}")
        chunks = response.aiter_bytes()
        decoder = SseDecoder()
        while True:
            chunk: bytes | None = None
            # One watchdog per chunk read, not per event: a busy server packs many in one.
            with anyio.move_on_after(self.idle_timeout) as watchdog:
                chunk = await anext(chunks, None)
            if watchdog.cancelled_caught:
                raise _StreamDroppedError(f"silent for more than {self.idle_timeout} s")
            if chunk is None:
                raise _StreamDroppedError("server ended the stream")
            frames = decoder.feed(chunk)
            if frames:
                yield frames

    def _decode(self, data: bytes) -> Event | None:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            # SSE is decoded as UTF-8 with U+FFFD for invalid bytes, which orjson
            # refuses instead: so a second try as text (a slow path for a bad event).
            try:
                obj = orjson.loads(data.decode("utf-8", "replace"))
            except orjson.JSONDecodeError:
                return self._malformed(data, f"not JSON: {exc}")
        if not isinstance(obj, dict):
            return self._malformed(data, "not a JSON object")
        if self._global:
            payload = obj.get("payload")
            if not isinstance(payload, dict):
                return self._malformed(data, "global event without an object 'payload'")
            obj = {**payload, "directory": obj.get("directory"), "project": obj.get("project")}
        kind = obj.get("type")
        if (
            self._parse is not None
            and isinstance(kind, str)
            and kind not in _ALWAYS_PARSED
            and not self._parse(kind, _properties(obj))
        ):
            return unparsed_event(kind, obj)
        try:
            return parse_event(obj)
        except TypeError as exc:
            return self._malformed(data, str(exc))

    def _malformed(self, data: bytes, why: str) -> Event | None:
        # Skipped, never fatal: one bad line must not cost the whole stream.
        text = data[:500].decode("utf-8", "replace")
        _log.warning("opencode.events.malformed", path=self._path, error=why, data=text)
        return None

    def _track(self, event: Event) -> None:
        # Exact types, not isinstance (an ABC check on pydantic's metaclass, paid
        # by every event): this stream made the event, from those very classes.
        if type(event) is SessionStatusEvent:
            if event.properties.status.is_active:
                self._busy.add(event.properties.session_id)
            else:
                self._busy.discard(event.properties.session_id)
        elif type(event) is SessionIdleEvent or type(event) is SessionDeletedEvent:
            sid = event.properties.session_id
            if sid is not None:
                self.unwatch(sid)

    async def _resync(self) -> AsyncIterator[Event]:
        if not self._busy and not self._watched:
            return
        statuses = await self._client.session_status()
        for sid in sorted(self._busy | self._watched):
            status = statuses.get(sid)
            if status is not None and status.is_active:
                continue
            try:
                last = await self._client.last_assistant_message(sid)
            except OpenCodeNotFoundError:
                last = None  # deleted while we were away: its turn is certainly over
            except OpenCodeBadRequestError as exc:
                # OpenCode 1.18.33 refuses any list of messages that holds a structured
                # (format) prompt, here the newest message itself: a prompt left without
                # an answer. The turn is still over, its error unknown.
                _log.warning("opencode.events.resync_unreadable", session_id=sid, error=str(exc))
                last = None
            if last is not None and last.error is not None:
                yield SessionErrorEvent.model_validate(
                    {
                        "type": "session.error",
                        "synthetic": True,
                        "properties": {"sessionID": sid, "error": last.error.model_dump()},
                    }
                )
            self.unwatch(sid)
            _log.info("opencode.events.resynced_idle", session_id=sid)
            yield SessionIdleEvent.model_validate(
                {"type": "session.idle", "synthetic": True, "properties": {"sessionID": sid}}
            )


def _is_permanent(exc: BaseException) -> bool:
    # Retrying cannot fix a closed client, a wrong password or a wrong path.
    if isinstance(exc, OpenCodeStateError):
        return True
    return isinstance(exc, OpenCodeHTTPError) and exc.status < 500 and exc.status != 429


def _as_predicate(parse: ParseFilter | None) -> Callable[[str, dict[str, Any]], bool] | None:
    if parse is None or callable(parse):
        return parse
    kinds = frozenset(parse)
    return lambda kind, _properties: kind in kinds


def _properties(obj: dict[str, Any]) -> dict[str, Any]:
    props = obj.get("properties")
    return props if isinstance(props, dict) else {}
