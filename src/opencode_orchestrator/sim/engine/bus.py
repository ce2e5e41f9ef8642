"""The event bus behind ``GET /event`` and ``GET /global/event``.

Publishing never waits: each subscriber has a bounded buffer, and one that
falls that far behind is cut off (its stream ends, as a dropped connection
would), so a stalled reader cannot hold up turns. An event is serialised once
per form (project, global) however many streams receive it.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Final

import anyio
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.sim.ids import IdKind, new_id
from opencode_orchestrator.sim.state.records import Json

__all__ = ["BUFFER_EVENTS", "EventBus", "StreamKind", "Subscription", "event"]

BUFFER_EVENTS: Final = 4096
_log = get_logger(__name__)


def event(kind: str, properties: Json) -> Json:
    """An event in OpenCode's envelope: ``{id, type, properties}``."""
    return {"id": new_id(IdKind.EVENT), "type": kind, "properties": properties}


class StreamKind(enum.Enum):
    """Which endpoint a subscription serves."""

    PROJECT = "project"
    GLOBAL = "global"


class Subscription:
    """One open event stream: its filter and its buffer of encoded events."""

    def __init__(self, kind: StreamKind, directory: str) -> None:
        self.kind = kind
        self.directory = directory
        send, receive = anyio.create_memory_object_stream[bytes](BUFFER_EVENTS)
        self._send: MemoryObjectSendStream[bytes] = send
        self._receive: MemoryObjectReceiveStream[bytes] = receive

    def offer(self, data: bytes) -> bool:
        """Queue ``data``; ``False`` (and the stream is ended) if the reader fell too far behind."""
        try:
            self._send.send_nowait(data)
        except anyio.WouldBlock:
            _log.warning("sim.slow_stream_dropped", kind=self.kind.value)
            self.close()
            return False
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        return True

    def close(self) -> None:
        """End the stream: the reader sees the end after what is already queued."""
        self._send.close()

    async def receive(self) -> bytes:
        """The next encoded event.

        Raises:
            anyio.EndOfStream: the stream was closed (dropped or shut down).
        """
        return await self._receive.receive()

    def discard(self) -> None:
        """Release both ends (the reader is gone)."""
        self._send.close()
        self._receive.close()


class EventBus:
    """Fan-out of events to the open streams."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._subscriptions)

    def publish(self, directory: str, envelope: Json, project: str = "global") -> None:
        """Deliver ``envelope`` to every project stream of ``directory`` and every global stream."""
        project_data: bytes | None = None
        global_data: bytes | None = None
        for sub in list(self._subscriptions):
            if sub.kind is StreamKind.GLOBAL:
                if global_data is None:
                    global_data = orjson.dumps(
                        {"directory": directory, "project": project, "payload": envelope}
                    )
                sub.offer(global_data)
            elif sub.directory == directory:
                if project_data is None:
                    project_data = orjson.dumps(envelope)
                sub.offer(project_data)

    def subscribe(self, kind: StreamKind, directory: str) -> Subscription:
        """Open a stream; the caller must :meth:`unsubscribe` it when its reader goes."""
        sub = Subscription(kind, directory)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget ``sub`` and release it."""
        self._subscriptions.discard(sub)
        sub.discard()

    def drop_all(self) -> int:
        """End every open stream (a simulated network drop); return how many."""
        subs = list(self._subscriptions)
        for sub in subs:
            sub.close()
        return len(subs)

    async def watch(self, sub: Subscription) -> AsyncIterator[bytes]:
        """The events of ``sub`` until it is closed."""
        while True:
            try:
                yield await sub.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return
