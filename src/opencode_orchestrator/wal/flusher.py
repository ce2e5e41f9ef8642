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

Under ``always``, a saturated log is batched one of two ways, pipelined (the
loop hands a batch off at ``SPLIT_AT`` lines, see ``submit``) or one batch per
loop round; :mod:`opencode_orchestrator.wal.pacing` measures which writes more.

Under ``always``, a batch that holds only queued records (``append_soon``:
nobody waits on them) is not synced on its own: it waits up to
:data:`LAZY_WINDOW` for a durable append to join it and share its sync, so a
queued record costs no fsync of its own, and does not keep the disk busy while
the next durable append waits behind it.

Under ``interval`` the same thread also syncs within ``sync_interval`` of the
first unsynced write. Any ``OSError`` stops it for good (fail-stop): the batch
in hand and every later one complete with :attr:`GroupCommitFlusher.fatal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import anyio.from_thread
import anyio.lowlevel

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.wal.batch import Batch
from opencode_orchestrator.wal.errors import WalFatalError
from opencode_orchestrator.wal.pacing import Pacer
from opencode_orchestrator.wal.writer import SegmentWriter

__all__ = ["HANDOFF_TIMEOUT", "LAZY_WINDOW", "SPLIT_AT", "GroupCommitFlusher"]

_log = get_logger(__name__)


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # not on asyncio (e.g. trio)
        return None


def _loop_waker(loop: asyncio.AbstractEventLoop | None) -> Callable[[Callable[[], None]], object]:
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

    return loop.call_soon_threadsafe


class _SyncDue:
    """Marker: no batch is waiting but the interval sync is due."""


_SYNC_DUE: Final = _SyncDue()

SPLIT_AT: Final = 32
HANDOFF_TIMEOUT: Final = 0.001
LAZY_WINDOW: Final = 0.005
"""Seconds a batch of queued records alone may wait for a durable append (``always``)."""


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
        # Read here, not at import, so a test can widen it.
        self._lazy_window = LAZY_WINDOW if sync_each_batch else 0.0
        self.loop = _running_asyncio_loop()
        """The asyncio loop appenders run on (``None`` on other backends)."""
        self._wake = _loop_waker(self.loop)
        self._mutex = threading.Lock()
        self._open: Batch | None = None
        self._last: Batch | None = None
        self._stopping = False
        # The flusher sleeps in a C-level `SimpleQueue.get` (one call, GIL
        # released at once) rather than a Condition, whose wait and notify are
        # Python code on both threads. `_idle` (set under `_mutex`) says it
        # sleeps or is about to: whoever opens a batch then puts a token. A
        # stale token costs one empty round, never a lost wake-up.
        self._idle = False
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()
        # Mid-burst hand-off (see submit): the loop may block on `_handoff`
        # until the flusher has sealed the open batch.
        self._split_at = SPLIT_AT if sync_each_batch else 0
        self._handoff_wanted = False
        self._handoff = threading.Lock()
        self._handoff.acquire()
        # Under load, the pacer turns the hand-off off and on (see pacing.py).
        # Turning it off, the flusher holds its next seal once, until the loop
        # has run the appenders its last write woke: the two batches in flight
        # merge into one, which later rounds keep.
        self._pacer = Pacer(SPLIT_AT // 2) if sync_each_batch and self.loop is not None else None
        self._merge_next = False
        self._hold = False
        self._thread = threading.Thread(
            target=self._run, name=f"wal-flusher {directory}", daemon=True
        )
        self._thread.start()

    @property
    def last_batch(self) -> Batch | None:
        """The newest batch (open or in flight); when it is done, all earlier ones are."""
        return self._last

    def announce(self) -> None:
        """Say a durable append is coming, before it is encoded (loop thread).

        An idle flusher is woken now: the thread's wake-up, tens of µs on a
        VM, overlaps the encoding instead of following it. It cannot take the
        batch early: it needs the GIL, which the loop keeps until ``submit``
        is done. Read without the lock: a stale answer costs one empty round
        or saves nothing, and ``submit`` checks again under the lock.
        """
        if self._idle:
            self._idle = False
            self._tokens.put(None)

    def submit(self, line: bytes, end_seq: int, *, urgent: bool = True) -> Awaitable[None]:
        """Queue ``line`` (whose seq is ``end_seq - 1``); return what to await for its ack.

        ``urgent=False`` (a queued record nobody waits on) lets the batch wait
        up to :data:`LAZY_WINDOW` under ``always`` for an urgent line to share
        its sync. Awaiting the result raises :class:`WalFatalError` if the
        batch could not be stored.
        """
        with self._mutex:
            batch = self._open
            if batch is None:
                batch = self._open = self._last = Batch()
                wake = True  # even a lazy batch: the flusher must time its wait
            else:
                wake = urgent and not batch.urgent
            if urgent:
                batch.urgent = True
            if wake and self._idle:
                self._idle = False
                self._tokens.put(None)
            batch.data += line
            batch.lines = lines = batch.lines + 1
            batch.end_seq = end_seq
        ack: Awaitable[None]
        loop = self.loop
        if loop is None:
            ack = batch.wait_for_ack()
        else:
            # The caller's own future: cancelling it touches no one else.
            ack = waiter = loop.create_future()
            batch.waiters.append(waiter)
        if lines == self._split_at:
            self._hand_off()
        return ack

    def urge(self) -> None:
        """Have the open batch written now, even one of queued records only (loop thread)."""
        with self._mutex:
            batch = self._open
            if batch is not None and not batch.urgent:
                batch.urgent = True
                if self._idle:
                    self._idle = False
                    self._tokens.put(None)

    def _hand_off(self) -> None:
        # Enough lines are queued: let the flusher seal them now, so their sync
        # overlaps the loop's work on the rest. Whether the flusher is idle
        # (notified) or back from its previous write, it cannot run while the
        # loop holds the GIL, and the loop releases it only between two rounds
        # of its event loop: a write that returned mid-burst would otherwise
        # wait for the GIL (measured: +100-250 us per batch), and its acks with
        # it. Blocking here lends the GIL to the flusher; bounded, so a slow
        # disk costs the loop at most HANDOFF_TIMEOUT per SPLIT_AT appends.
        self._handoff.acquire(blocking=False)  # a release left by a timed-out wait
        with self._mutex:
            self._handoff_wanted = True
            if self._idle:  # waiting out a lazy batch's window
                self._idle = False
                self._tokens.put(None)
        self._handoff.acquire(timeout=HANDOFF_TIMEOUT)

    def stop(self) -> None:
        """Flush what is queued, then end the thread (blocking: call via ``to_thread``)."""
        with self._mutex:
            self._stopping = True
        self._tokens.put(None)
        self._thread.join()

    def _next_batch(self) -> Batch | _SyncDue | None:
        while True:
            with self._mutex:
                batch = self._open
                taken = batch is not None and (not self._hold or self._handoff_wanted)
                lazy_due: float | None = None
                if (
                    taken
                    and batch is not None
                    and not batch.urgent
                    and self._lazy_window
                    and not self._handoff_wanted
                ):
                    lazy_due = batch.opened + self._lazy_window - time.monotonic()
                    taken = lazy_due <= 0
                if taken or self._stopping:
                    self._open = None
                    self._idle = False
                    if self._handoff_wanted:
                        self._handoff_wanted = False
                        self._handoff.release()
                    return batch
                due_in = self._sync_due_in()
                if due_in is not None and due_in <= 0:
                    self._idle = False
                    return _SYNC_DUE
                if lazy_due is not None:
                    due_in = lazy_due if due_in is None else min(due_in, lazy_due)
                self._idle = True
            # On timeout the interval sync is due, or a lazy batch's window has passed.
            with contextlib.suppress(queue.Empty):
                self._tokens.get(timeout=due_in)

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
            if self.fatal is None:
                try:
                    self._writer.write_batch(
                        batch.data, sync=self._sync_each_batch, next_seq=batch.end_seq
                    )
                    self.batches += 1
                    self.bytes += len(batch.data)
                except OSError as exc:
                    self._record_fatal(exc)
            batch.error = self.fatal
            try:
                self._deliver(batch)  # first: the acks wait on nothing below
            except RuntimeError:  # the event loop is gone: nobody is left to wake
                return
            if self._sync_interval is not None:
                due_in = self._sync_due_in()
                if due_in is not None and due_in <= 0:
                    self._sync()  # continuous load must not postpone the interval sync

    def _deliver(self, batch: Batch) -> None:
        """Have the loop complete ``batch``, then show the write to the pacer."""
        if self._merge_next:
            self._merge_next = False
            with self._mutex:
                self._hold = True
            self._wake(functools.partial(self._complete_then_release, batch))
        else:
            self._wake(batch.complete)
        pacer = self._pacer
        if pacer is not None and pacer.wrote(batch.lines, time.perf_counter()):
            self._split_at = SPLIT_AT if pacer.pipelined else 0
            self._merge_next = not pacer.pipelined

    def _complete_then_release(self, batch: Batch) -> None:
        # On the loop: the appenders woken here run in the loop's next round,
        # and a callback scheduled now runs after them.
        batch.complete()
        asyncio.get_running_loop().call_soon(self._release_hold)

    def _release_hold(self) -> None:
        with self._mutex:
            self._hold = False
            if self._idle:
                self._idle = False
                self._tokens.put(None)

    def _record_fatal(self, cause: OSError) -> None:
        if self.fatal is None:
            self.fatal = WalFatalError(
                f"write-ahead log {self.directory} stopped after an I/O failure: {cause!r}; "
                "no further record is acknowledged"
            )
            _log.error("wal.failed", directory=str(self.directory), error=repr(cause))
