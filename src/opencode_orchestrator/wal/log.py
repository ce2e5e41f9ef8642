"""The write-ahead log: durable appends with group commit, snapshots, lifecycle.

Group commit (``always``): appenders queue their encoded line and wait. The
first one to find no flush running becomes the *leader*: it takes everything
queued, does one ``write`` + one ``fdatasync`` in a worker thread, wakes that
batch, and hands leadership to the first appender that queued meanwhile. One
thread hop and one fsync per batch, whatever the concurrency; no background
task is needed, so the log works inside any task structure.

Fail-stop: if a write or fsync fails, the log turns ``FAILED`` and every queued
and later append raises :class:`WalFatalError`. It never retries, because after
a failed fsync the kernel may have dropped the dirty pages: what is on disk is
unknown, so nothing more may be acknowledged.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import anyio
import anyio.to_thread

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.wal.errors import WalClosedError, WalFatalError, WalInvalidPayloadError
from opencode_orchestrator.wal.lock import DirectoryLock
from opencode_orchestrator.wal.paths import ensure_private_dir
from opencode_orchestrator.wal.record import CURRENT_VERSION, Record, encode_record
from opencode_orchestrator.wal.recovery import Recovery, recover_directory
from opencode_orchestrator.wal.registry import DEFAULT_REGISTRY, RecordRegistry
from opencode_orchestrator.wal.snapshot import compact, encode_snapshot, write_snapshot
from opencode_orchestrator.wal.writer import SegmentWriter

__all__ = ["Durability", "WalState", "WalStats", "WriteAheadLog"]

_log = get_logger(__name__)
DEFAULT_SEGMENT_MAX_BYTES: Final = 64 * 1024 * 1024


class Durability(enum.StrEnum):
    """When an append is acknowledged.

    ``ALWAYS``: after fdatasync (group-committed). ``INTERVAL``: after the write
    reached the OS; fdatasync follows within ``sync_interval`` (loss window on
    power failure or kernel crash, not on process crash). ``NONE``: after the
    write reached the OS, fsync only on close; for tests.
    """

    ALWAYS = "always"
    INTERVAL = "interval"
    NONE = "none"


class WalState(enum.Enum):
    """Lifecycle: ``OPEN`` -> ``CLOSING`` -> ``CLOSED``, or ``OPEN`` -> ``FAILED``."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"


@dataclass(slots=True)
class WalStats:
    """Counters since open: records appended, fsyncs, write batches, bytes written."""

    appends: int = 0
    fsyncs: int = 0
    batches: int = 0
    bytes: int = 0


class _Waiter:
    """One queued line's acknowledgement; ``lead`` hands it the flusher role."""

    __slots__ = ("abandoned", "done", "error", "lead")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: WalFatalError | None = None
        self.lead = False
        self.abandoned = False


class WriteAheadLog:
    """A durable, checksummed, segmented log of :class:`Record` for one mission."""

    def __init__(
        self,
        *,
        directory: Path,
        lock: DirectoryLock,
        writer: SegmentWriter,
        recovery: Recovery,
        durability: Durability,
        registry: RecordRegistry,
        sync_interval: float,
    ) -> None:
        """Use :meth:`open`; this only wires recovered parts together."""
        self.directory = directory
        self.durability = durability
        self.recovery = recovery
        self._lock = lock
        self._writer = writer
        self._registry = registry
        self._state = WalState.OPEN
        self._next_seq = recovery.last_seq + 1
        self._pending: list[bytes] = []
        self._waiters: list[_Waiter] = []
        self._flushing = False
        self._fatal: WalFatalError | None = None
        self._stats = WalStats()
        self._snapshot_lock = anyio.Lock()
        self._syncer_stop = threading.Event()
        self._syncer: threading.Thread | None = None
        if durability is Durability.INTERVAL:
            self._syncer = threading.Thread(
                target=self._sync_periodically, args=(sync_interval,), daemon=True
            )
            self._syncer.start()

    @classmethod
    async def open(
        cls,
        directory: Path,
        *,
        durability: Durability = Durability.ALWAYS,
        registry: RecordRegistry = DEFAULT_REGISTRY,
        sync_interval: float = 0.05,
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
    ) -> WriteAheadLog:
        """Lock ``directory`` (created 0700 if missing), recover it, and open for appends.

        Raises:
            WalLockedError: another writer holds the directory.
            WalCorruptError: damage other than a torn tail; run ``wal repair``.
            WalVersionError: data from a newer format.
            WalUnknownRecordTypeError: a record type missing from ``registry``.
        """
        if sync_interval <= 0 or segment_max_bytes <= 0:
            raise ValueError("sync_interval and segment_max_bytes must be positive")
        await anyio.to_thread.run_sync(ensure_private_dir, directory)
        lock = await anyio.to_thread.run_sync(DirectoryLock.acquire, directory)
        try:
            recovery, writer = await anyio.to_thread.run_sync(
                recover_directory, directory, registry, segment_max_bytes
            )
        except BaseException:
            lock.release()
            raise
        _log.info(
            "wal.opened",
            directory=str(directory),
            snapshot_seq=recovery.snapshot_seq,
            records=len(recovery.records),
            durability=str(durability),
        )
        return cls(
            directory=directory,
            lock=lock,
            writer=writer,
            recovery=recovery,
            durability=durability,
            registry=registry,
            sync_interval=sync_interval,
        )

    @property
    def state(self) -> WalState:
        """Where the log is in its lifecycle."""
        return self._state

    @property
    def stats(self) -> WalStats:
        """A copy of the counters (fsyncs include rotations and the interval syncer)."""
        return WalStats(
            self._stats.appends, self._writer.fsyncs, self._stats.batches, self._stats.bytes
        )

    @property
    def last_seq(self) -> int:
        """The seq of the last record appended (acknowledged or not yet)."""
        return self._next_seq - 1

    async def __aenter__(self) -> Self:
        self._check_usable()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def append(self, record_type: str, data: dict[str, Any]) -> Record:
        """Append a record; return once it is durable under the log's policy.

        If the caller is cancelled after the record was queued, the record is
        still written (its seq is taken) but not acknowledged.

        Raises:
            WalClosedError: the log is closing or closed.
            WalFatalError: the log failed (now or earlier); nothing more is stored.
            WalUnknownRecordTypeError: ``record_type`` is not registered.
            WalInvalidPayloadError: ``data`` is not a JSON object or fails the model.
        """
        self._check_usable()
        self._registry.check_append(record_type, data)
        seq, ts = self._next_seq, time.time()
        try:
            line = encode_record(seq, ts, record_type, data)
        except TypeError as exc:
            raise WalInvalidPayloadError(f"payload of {record_type!r}: {exc}") from exc
        self._next_seq += 1
        self._stats.appends += 1
        await self._enqueue_and_wait(line)
        return Record(CURRENT_VERSION, seq, ts, record_type, data)

    async def snapshot(self, state: dict[str, Any]) -> int:
        """Persist ``state`` as of the last appended seq, then compact; returns that seq.

        Records up to that seq are made durable first, so the snapshot never
        covers a record that could still be lost.

        Raises:
            WalClosedError: the log is closed.
            WalFatalError: the log failed.
            WalInvalidPayloadError: ``state`` is not JSON-serialisable.
        """
        self._check_usable()
        seq = self.last_seq
        try:
            # Serialise on the loop so the caller's dict cannot change under us.
            encoded = encode_snapshot(seq, state)
        except TypeError as exc:
            raise WalInvalidPayloadError(f"snapshot state: {exc}") from exc
        async with self._snapshot_lock:
            await self._enqueue_and_wait(b"")
            try:
                await anyio.to_thread.run_sync(self._persist_snapshot, seq, encoded)
            except OSError as exc:
                self._fail(exc, [])
                raise self._fatal_error() from exc
        return seq

    def _persist_snapshot(self, seq: int, encoded: bytes) -> None:
        if self.durability is not Durability.ALWAYS:
            self._writer.sync()
        write_snapshot(self.directory, seq, encoded)
        removed = compact(self.directory, seq)
        _log.info("wal.snapshot", seq=seq, bytes=len(encoded), removed=len(removed))

    async def close(self) -> None:
        """Flush what is queued, sync, release the lock; idempotent.

        A failed log is released too but stays ``FAILED``.

        Raises:
            WalFatalError: the final flush or sync failed (resources are released).
        """
        if self._state in (WalState.CLOSED, WalState.CLOSING):
            return
        was_open = self._state is WalState.OPEN
        if was_open:
            self._state = WalState.CLOSING
            if self._pending or self._flushing:
                await self._enqueue_and_wait(b"", closing=True)
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._release)
        if self._state is WalState.CLOSING:
            self._state = WalState.CLOSED
        elif was_open:
            raise self._fatal_error()

    def _release(self) -> None:
        self._syncer_stop.set()
        if self._syncer is not None:
            self._syncer.join()
        try:
            if self._state is WalState.CLOSING:
                self._writer.sync(only_if_dirty=True)
        except OSError as exc:
            self._fail(exc, [])
        finally:
            self._writer.close()
            self._lock.release()

    def _check_usable(self) -> None:
        if self._fatal is not None and self._state is WalState.OPEN:
            self._state = WalState.FAILED  # the interval syncer failed in its thread
        if self._state is WalState.FAILED:
            raise self._fatal_error()
        if self._state is not WalState.OPEN:
            raise WalClosedError(f"write-ahead log {self.directory} is {self._state.value}")

    def _fatal_error(self) -> WalFatalError:
        assert self._fatal is not None
        return WalFatalError(str(self._fatal))

    async def _enqueue_and_wait(self, line: bytes, *, closing: bool = False) -> None:
        waiter = _Waiter()
        self._pending.append(line)
        self._waiters.append(waiter)
        if not self._flushing:
            self._flushing = True
            waiter.lead = True
            waiter.done.set()
        try:
            await waiter.done.wait()
        finally:
            # Leading is shielded: the batch holds other appenders' records and
            # must complete even if this caller was cancelled.
            if waiter.lead:
                with anyio.CancelScope(shield=True):
                    await self._flush_batches()
            elif not waiter.done.is_set():
                waiter.abandoned = True
        if waiter.error is not None:
            raise waiter.error
        if self._state is WalState.FAILED and not closing:
            raise self._fatal_error()

    async def _flush_batches(self) -> None:
        while True:
            await self._flush_one_batch()
            if not self._waiters:
                self._flushing = False
                return
            successor = next((w for w in self._waiters if not w.abandoned), None)
            if successor is not None:
                successor.lead = True
                successor.done.set()
                return
            # Everyone queued meanwhile was cancelled; their records still
            # hold seqs, so they are written here rather than left behind.

    async def _flush_one_batch(self) -> None:
        lines, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        for waiter in waiters:
            waiter.lead = False
        payload = b"".join(lines)
        if self._state is not WalState.FAILED and payload:
            try:
                await anyio.to_thread.run_sync(self._write, payload, self._next_seq)
            except OSError as exc:
                self._fail(exc, waiters)
        for waiter in waiters:
            if self._state is WalState.FAILED:
                waiter.error = self._fatal_error()
            waiter.done.set()

    def _write(self, payload: bytes, next_seq: int) -> None:
        if self._fatal is not None:  # the interval syncer failed meanwhile
            raise OSError(str(self._fatal))
        sync = self.durability is Durability.ALWAYS
        self._writer.write_batch(payload, sync=sync, next_seq=next_seq)
        self._stats.batches += 1
        self._stats.bytes += len(payload)

    def _fail(self, cause: OSError, waiters: list[_Waiter]) -> None:
        if self._fatal is None:
            self._fatal = WalFatalError(
                f"write-ahead log {self.directory} stopped after an I/O failure: {cause!r}; "
                "no further record is acknowledged"
            )
            _log.error("wal.failed", directory=str(self.directory), error=repr(cause))
        self._state = WalState.FAILED
        for waiter in waiters:
            waiter.error = self._fatal_error()

    def _sync_periodically(self, interval: float) -> None:
        while not self._syncer_stop.wait(interval):
            try:
                self._writer.sync()
            except OSError as exc:
                # Runs in a thread: record only; appends observe it on the loop.
                self._fatal = WalFatalError(
                    f"write-ahead log {self.directory} stopped: background fsync failed: {exc!r}"
                )
                _log.error("wal.failed", directory=str(self.directory), error=repr(exc))
                return
