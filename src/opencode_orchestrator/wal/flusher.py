"""Group commit: one flusher thread turns many appends into one write + one fdatasync.

::

    event loop (appenders)                flusher thread
    ----------------------                --------------
    append A -> open batch #k, queue A
    append B -> queue B in #k             wakes, seals #k (new appends open #k+1)
    append C -> open batch #k+1           write(A+B), fdatasync      <- one sync
    ...                                   run on loop: #k.complete() -> A, B acked
                                          seals #k+1, write(C...), fdatasync ...

The thread is dedicated rather than one ``to_thread`` call per batch because
it keeps I/O overlapped with the loop's work (the next batch fills while the
previous one syncs) and wakes faster. Completion is delivered on the loop
(``call_soon_threadsafe`` on asyncio, ``anyio.from_thread`` elsewhere), so
every waiter is only touched from the loop's thread.

Under ``interval`` the same thread also syncs within ``sync_interval`` of the
first unsynced write. Any ``OSError`` stops it for good (fail-stop): the batch
in hand and every later one complete with :attr:`GroupCommitFlusher.fatal`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import anyio
import anyio.from_thread
import anyio.lowlevel

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.wal.errors import WalFatalError
from opencode_orchestrator.wal.writer import SegmentWriter

__all__ = ["Batch", "GroupCommitFlusher"]

_log = get_logger(__name__)


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # not on asyncio (e.g. trio)
        return None


def _loop_waker(loop: asyncio.AbstractEventLoop | None) -> Callable[[Callable[[], None]], None]:
    """How the flusher thread runs a callback on the current event loop.

    On asyncio, ``call_soon_threadsafe`` does not make the thread wait for the
    loop, so the next write starts at once; elsewhere anyio's portable (and
    blocking) ``from_thread.run_sync`` is used.
    """
    if loop is None:
        token = anyio.lowlevel.current_token()

        def run_blocking(callback: Callable[[], None]) -> None:
            anyio.from_thread.run_sync(callback, token=token)

        return run_blocking

    def schedule(callback: Callable[[], None]) -> None:
        loop.call_soon_threadsafe(callback)

    return schedule


class _SyncDue:
    """Marker: no batch is waiting but the interval sync is due."""


_SYNC_DUE: Final = _SyncDue()

SPLIT_AT: Final = 32
HANDOFF_TIMEOUT: Final = 0.001


class Batch:
    """Lines acknowledged together; their waiters are woken on the loop once stored.

    Each waiter is its own object (an ``asyncio.Future`` on asyncio, an
    ``anyio.Event`` elsewhere), so cancelling one appender cancels only its own
    waiter and never the batch.
    """

    __slots__ = ("bytes", "completed", "end_seq", "error", "lines", "waiters")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.waiters: list[asyncio.Future[None] | anyio.Event] = []
        self.completed = False
        self.end_seq = 0
        self.bytes = 0
        self.error: WalFatalError | None = None

    def complete(self) -> None:
        """Wake every waiter (on the loop's thread, once the batch is stored or failed)."""
        self.completed = True
        for waiter in self.waiters:
            if isinstance(waiter, anyio.Event):
                waiter.set()
            elif not waiter.done():  # a cancelled appender's future is done already
                waiter.set_result(None)
        self.waiters.clear()

    async def wait(self) -> None:
        """Return once the batch is stored (or failed); cancelling it affects only the caller."""
        if self.completed:
            return
        try:
            waiter: asyncio.Future[None] | anyio.Event = asyncio.get_running_loop().create_future()
        except RuntimeError:  # not on asyncio
            waiter = anyio.Event()
        self.waiters.append(waiter)
        if isinstance(waiter, anyio.Event):
            await waiter.wait()
        else:
            await waiter


class GroupCommitFlusher:
    """The single writer thread of one log (create and submit from the event loop)."""

    def __init__(
        self,
        directory: Path,
        writer: SegmentWriter,
        *,
        sync_each_batch: bool,
        sync_interval: float | None,
    ) -> None:
        self.directory = directory
        self.batches = 0
        self.bytes = 0
        self.fatal: WalFatalError | None = None
        self._writer = writer
        self._sync_each_batch = sync_each_batch
        self._sync_interval = sync_interval
        self.loop = _running_asyncio_loop()
        """The asyncio loop appenders run on (``None`` on other backends)."""
        self._wake = _loop_waker(self.loop)
        # `with self._mutex` is C-level; entering the Condition itself costs a
        # Python call per append. Both guard the same lock.
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._open: Batch | None = None
        self._last: Batch | None = None
        self._stopping = False
        # Mid-burst hand-off (see submit): the loop may block on `_handoff`
        # until the flusher has sealed the open batch.
        self._split_at = SPLIT_AT if sync_each_batch else 0
        self._handoff_wanted = False
        self._handoff = threading.Lock()
        self._handoff.acquire()
        self._thread = threading.Thread(
            target=self._run, name=f"wal-flusher {directory}", daemon=True
        )
        self._thread.start()

    @property
    def last_batch(self) -> Batch | None:
        """The newest batch (open or in flight); when it is done, all earlier ones are."""
        return self._last

    def submit(self, line: bytes, end_seq: int) -> Batch:
        """Queue ``line`` (whose seq is ``end_seq - 1``); return the batch to await."""
        with self._mutex:
            batch = self._open
            if batch is None:
                batch = self._open = self._last = Batch()
                self._cond.notify()
            batch.lines.append(line)
            batch.end_seq = end_seq
        if len(batch.lines) == self._split_at:
            self._hand_off()
        return batch

    def _hand_off(self) -> None:
        # Enough lines are queued: let the flusher seal them now, so their sync
        # overlaps the loop's work on the rest. Whether the flusher is idle
        # (notified) or back from its previous write, it cannot run while the
        # loop holds the GIL, and the loop releases it only when it goes idle:
        # a write that returned mid-burst would otherwise wait for the GIL
        # (measured: +100-250 us per batch), and its acks with it. Blocking here
        # lends the GIL to the flusher; bounded, so a slow disk costs the loop at
        # most HANDOFF_TIMEOUT per SPLIT_AT appends.
        self._handoff.acquire(blocking=False)  # a release left by a timed-out wait
        self._handoff_wanted = True
        self._handoff.acquire(timeout=HANDOFF_TIMEOUT)

    def stop(self) -> None:
        """Flush what is queued, then end the thread (blocking: call via ``to_thread``)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def _next_batch(self) -> Batch | _SyncDue | None:
        with self._cond:
            while self._open is None and not self._stopping:
                due_in = self._sync_due_in()
                if due_in is None:
                    self._cond.wait()
                elif due_in <= 0:
                    return _SYNC_DUE
                else:
                    self._cond.wait(due_in)
            batch, self._open = self._open, None
            if self._handoff_wanted:
                self._handoff_wanted = False
                self._handoff.release()
            return batch

    def _sync_due_in(self) -> float | None:
        # Under `interval`, bound how long a written record stays unsynced.
        if self._sync_interval is None or not self._writer.dirty or self.fatal is not None:
            return None
        return self._writer.dirty_since + self._sync_interval - time.monotonic()

    def _sync(self) -> None:
        try:
            self._writer.sync()
        except OSError as exc:
            self._record_fatal(exc)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            if isinstance(batch, _SyncDue):
                self._sync()
                continue
            payload = b"".join(batch.lines)
            if self.fatal is None:
                try:
                    self._writer.write_batch(
                        payload, sync=self._sync_each_batch, next_seq=batch.end_seq
                    )
                    self.batches += 1
                    self.bytes += len(payload)
                except OSError as exc:
                    self._record_fatal(exc)
            due_in = self._sync_due_in()
            if due_in is not None and due_in <= 0:
                self._sync()  # continuous load must not postpone the interval sync
            batch.error = self.fatal
            try:
                self._wake(batch.complete)
            except RuntimeError:  # the event loop is gone: nobody is left to wake
                return

    def _record_fatal(self, cause: OSError) -> None:
        if self.fatal is None:
            self.fatal = WalFatalError(
                f"write-ahead log {self.directory} stopped after an I/O failure: {cause!r}; "
                "no further record is acknowledged"
            )
            _log.error("wal.failed", directory=str(self.directory), error=repr(cause))
