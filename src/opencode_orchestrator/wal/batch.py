"""One group-commit batch: the bytes written together and the appenders they acknowledge.

The event loop fills the open batch, the flusher thread seals and writes it,
and the loop completes it (:meth:`Batch.complete`), so every waiter is only
touched from the loop's thread.
"""

from __future__ import annotations

import asyncio
import time

import anyio

from opencode_orchestrator.wal.errors import WalFatalError

__all__ = ["Batch"]


class Batch:
    """Lines acknowledged together; their waiters are woken on the loop once stored.

    Each appender waits on its own object (an ``asyncio.Future`` on asyncio, an
    ``anyio.Event`` elsewhere), so cancelling one appender cancels only its own
    waiter and never the batch. ``waiters`` are appenders' futures, which carry
    the batch's error; ``watchers`` only learn that the batch is done.
    """

    __slots__ = (
        "completed", "data", "end_seq", "error", "lines", "opened", "urgent", "waiters", "watchers",
    )  # fmt: skip

    def __init__(self) -> None:
        # The lines already concatenated, so that the flusher thread, which
        # holds the GIL between two writes, has no join to do there.
        self.data = bytearray()
        self.lines = 0
        self.end_seq = 0
        self.waiters: list[asyncio.Future[None]] = []
        self.watchers: list[asyncio.Future[None] | anyio.Event] = []
        self.completed = False
        self.error: WalFatalError | None = None
        self.urgent = False
        """Someone waits on it: an :meth:`~WriteAheadLog.append`, or a drain."""
        self.opened = time.monotonic()

    def complete(self) -> None:
        """Wake every waiter (on the loop's thread, once the batch is stored or failed)."""
        self.completed = True
        error = self.error
        for waiter in self.waiters:
            if waiter.done():  # a cancelled appender's
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(WalFatalError(str(error)))
        for watcher in self.watchers:
            if isinstance(watcher, anyio.Event):
                watcher.set()
            elif not watcher.done():
                watcher.set_result(None)

    async def wait(self) -> None:
        """Return once the batch is stored (or failed); cancelling it affects only the caller."""
        if self.completed:
            return
        try:
            watcher: asyncio.Future[None] | anyio.Event = asyncio.get_running_loop().create_future()
        except RuntimeError:  # not on asyncio
            watcher = anyio.Event()
        self.watchers.append(watcher)
        if isinstance(watcher, anyio.Event):
            await watcher.wait()
        else:
            await watcher

    async def wait_for_ack(self) -> None:
        """:meth:`wait`, then raise the batch's error (appenders off asyncio)."""
        await self.wait()
        if self.error is not None:
            raise WalFatalError(str(self.error))
