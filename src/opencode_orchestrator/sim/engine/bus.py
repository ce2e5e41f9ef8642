"""The event bus behind ``GET /event`` and ``GET /global/event``.

Publishing never waits: each subscriber has a bounded buffer, and one that
falls that far behind is cut off (its stream ends, as a dropped connection
would), so a stalled reader cannot hold up turns. An event is serialised and
framed once per form (project, global) however many streams receive it, and a
stream's reader takes everything queued at once, so a burst of events costs
one wake-up and one socket write per stream rather than one per event.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Final

import orjson

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.sim.ids import IdKind, new_id
from opencode_orchestrator.sim.state.records import Json

__all__ = [
    "BUFFER_EVENTS",
    "Deliveries",
    "EventBus",
    "StreamKind",
    "Subscription",
    "deliver",
    "event",
    "frame",
]

BUFFER_EVENTS: Final = 4096
_log = get_logger(__name__)


def event(kind: str, properties: Json) -> Json:
    """An event in OpenCode's envelope: ``{id, type, properties}``."""
    return {"id": new_id(IdKind.EVENT), "type": kind, "properties": properties}


def frame(data: bytes) -> bytes:
    """``data`` as one server-sent event: a ``data:`` line and a blank line."""
    return b"data: " + data + b"\n\n"


class StreamKind(enum.Enum):
    """Which endpoint a subscription serves."""

    PROJECT = "project"
    GLOBAL = "global"


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Subscription:
    """One open event stream: its filter and its buffer of framed events."""

    def __init__(self, kind: StreamKind, directory: str) -> None:
        self.kind = kind
        self.directory = directory
        self._frames: list[bytes] = []
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, data: bytes) -> bool:
        """Queue a framed event; ``False`` (and the stream is ended) if the reader fell behind."""
        if self._closed:
            return False
        frames = self._frames
        if len(frames) >= BUFFER_EVENTS:
            _log.warning("sim.slow_stream_dropped", kind=self.kind.value)
            self.close()
            return False
        frames.append(data)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None  # woken once; it takes everything queued by then
            _wake(waiter)
        return True

    def close(self) -> None:
        """End the stream: the reader sees the end after what is already queued."""
        self._closed = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            _wake(waiter)

    async def take(self, quiet: float) -> list[bytes] | None:
        """Every framed event queued, waiting up to ``quiet`` seconds for the first.

        ``[]`` when none came in time; ``None`` once the stream is closed and drained.
        """
        if not self._frames and not self._closed:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(quiet, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        frames, self._frames = self._frames, []
        if not frames and self._closed:
            return None
        return frames


Deliveries = list[tuple[bytes, tuple[Subscription, ...]]]
"""Framed events and the streams they go to, decided when the event was emitted."""


def deliver(deliveries: Deliveries) -> None:
    """Queue each framed event on its streams."""
    for data, subs in deliveries:
        for sub in subs:
            sub.offer(data)


class EventBus:
    """Fan-out of events to the open streams."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        # Who gets what, kept up to date as streams come and go (rarely), so an
        # event (often) finds its streams with one lookup.
        self._by_directory: dict[str, tuple[Subscription, ...]] = {}
        self._global: tuple[Subscription, ...] = ()

    def __len__(self) -> int:
        return len(self._subscriptions)

    def publish(self, directory: str, envelope: Json, project: str = "global") -> None:
        """Deliver ``envelope`` to every project stream of ``directory`` and every global stream."""
        deliveries = self.prepare(directory, envelope, project)
        if deliveries is not None:
            deliver(deliveries)

    def listens(self, directory: str) -> bool:
        """Whether any stream gets the events of ``directory``."""
        return bool(self._global) or directory in self._by_directory

    def prepare(self, directory: str, envelope: Json, project: str = "global") -> Deliveries | None:
        """``envelope`` framed as it is now for every stream that gets it; ``None``: no stream.

        Streams opened after this call do not get it, whenever it is delivered.
        """
        if not self._global and directory not in self._by_directory:
            return None
        return self.prepare_payload(directory, orjson.dumps(envelope), project)

    def prepare_payload(self, directory: str, payload: bytes, project: str) -> Deliveries:
        """:meth:`prepare` for an envelope already serialised as ``payload``."""
        local = self._by_directory.get(directory)
        deliveries: Deliveries = []
        if local is not None:
            deliveries.append((b"data: " + payload + b"\n\n", local))
        if self._global:
            # Byte for byte what orjson makes of {directory, project, payload}.
            global_frame = b"".join(
                (
                    b'data: {"directory":',
                    orjson.dumps(directory),
                    b',"project":',
                    orjson.dumps(project),
                    b',"payload":',
                    payload,
                    b"}\n\n",
                )
            )
            deliveries.append((global_frame, self._global))
        return deliveries

    def _index(self) -> None:
        by_directory: dict[str, list[Subscription]] = {}
        for sub in self._subscriptions:
            if sub.kind is StreamKind.PROJECT:
                by_directory.setdefault(sub.directory, []).append(sub)
        self._by_directory = {d: tuple(subs) for d, subs in by_directory.items()}
        self._global = tuple(s for s in self._subscriptions if s.kind is StreamKind.GLOBAL)

    def subscribe(self, kind: StreamKind, directory: str) -> Subscription:
        """Open a stream; the caller must :meth:`unsubscribe` it when its reader goes."""
        sub = Subscription(kind, directory)
        self._subscriptions.add(sub)
        self._index()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget ``sub`` and end it."""
        self._subscriptions.discard(sub)
        self._index()
        sub.close()

    def drop_all(self) -> int:
        """End every open stream (a simulated network drop); return how many."""
        for sub in self._subscriptions:
            sub.close()
        return len(self._subscriptions)
