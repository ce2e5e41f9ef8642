"""The stdlib handlers behind the pipeline: the queue, its listener thread, stderr.

The callers' side (:class:`DroppingQueueHandler`) never blocks; the listener
thread (:class:`GatheringListener`) renders and writes in bursts.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from opencode_orchestrator.log.routing import MISSION_KEY, mission_of

__all__ = [
    "GATHER_SECONDS",
    "QUEUE_SIZE",
    "CurrentStderrHandler",
    "DroppingQueueHandler",
    "GatheringListener",
]

QUEUE_SIZE: Final = 10_000
"""Records held for the listener thread before new ones are dropped."""


GATHER_SECONDS: Final = 0.01
"""How long the listener, woken by a record, lets more gather before it writes."""


class GatheringListener(logging.handlers.QueueListener):
    """The listener thread, flushing its files whenever it has caught up.

    The files are not flushed per line (that was a system call per record):
    a burst is written in a few large writes, and nothing waits in a buffer
    while the listener idles. Woken from idle, it waits :data:`GATHER_SECONDS`
    before it starts: at a steady few thousand records a second (a large
    mission), waking per record cost a futex wake on the event loop and a
    tug-of-war for the GIL each time; a line now reaches its file at most
    that much later.
    """

    def __init__(
        self,
        records: queue.SimpleQueue[logging.LogRecord],
        *handlers: logging.Handler,
        flush: Callable[[], None],
    ) -> None:
        """Hand ``records`` to ``handlers``; ``flush`` writes out their buffers."""
        super().__init__(records, *handlers, respect_handler_level=True)
        self._records = records
        self._flush = flush

    def dequeue(self, block: bool) -> logging.LogRecord:
        """The next record; before idling, the outputs are flushed."""
        records = self._records
        if block and records.empty():
            self._flush()
            record = records.get()
            time.sleep(GATHER_SECONDS)
            return record
        return records.get(block)


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """Enqueue without ever blocking; count what a full queue refuses."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord]) -> None:
        """Put records on ``records``, dropping them past :data:`QUEUE_SIZE`."""
        super().__init__(records)
        self.dropped = 0
        # A SimpleQueue (C, no Condition to notify) has no bound of its own: an
        # approximate one, from its size, is all dropping needs.
        self._size = records.qsize

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """Tag the record with its mission (known only in the caller's context)."""
        # The listener renders in-process: keep the record (and structlog's
        # event dict in record.msg) intact instead of pre-formatting it. Which
        # mission it belongs to is only known here, in the caller's context.
        setattr(record, MISSION_KEY, mission_of(record))
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        """Queue the record, or count it dropped when the queue is full."""
        if self._size() >= QUEUE_SIZE:
            self.dropped += 1
            return
        if self.dropped:
            report = logging.LogRecord(
                "opencode_orchestrator.log",
                logging.WARNING,
                "",
                0,
                "%d log records dropped: the log output was not being read",
                (self.dropped,),
                None,
            )
            self.queue.put_nowait(report)
            self.dropped = 0
        self.queue.put_nowait(record)


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is written.

    A live terminal view redirects ``sys.stderr`` while it draws, so that
    anything written there is printed above the view instead of through it; a
    handler holding the stream it was created with would tear the view apart.
    """

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass  # always the current sys.stderr
