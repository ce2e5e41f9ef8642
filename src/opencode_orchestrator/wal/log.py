"""The write-ahead log: durable appends with group commit, snapshots, lifecycle.

Appends are encoded on the event loop and handed to the log's flusher thread
(:mod:`opencode_orchestrator.wal.flusher`), which writes and syncs them in
batches; an append returns when its batch is stored under the policy.

Fail-stop: if a write or fsync fails, the log turns ``FAILED`` and every queued
and later append raises :class:`WalFatalError`. It never retries, because after
a failed fsync the kernel may have dropped the dirty pages: what is on disk is
unknown, so nothing more may be acknowledged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import inspect
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import anyio
import anyio.to_thread

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.wal.errors import WalClosedError, WalFatalError, WalInvalidPayloadError
from opencode_orchestrator.wal.flusher import GroupCommitFlusher
from opencode_orchestrator.wal.lock import DirectoryLock
from opencode_orchestrator.wal.paths import ensure_private_dir
from opencode_orchestrator.wal.record import Record, encode_record, new_record
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
        self._unchecked = registry.unchecked
        self._state = WalState.OPEN
        self._fatal: WalFatalError | None = None
        self._next_seq = recovery.last_seq + 1
        self._appends = 0
        self._snapshot_lock = anyio.Lock()
        self._flusher = GroupCommitFlusher(
            directory,
            writer,
            sync_each_batch=durability is Durability.ALWAYS,
            sync_interval=sync_interval if durability is Durability.INTERVAL else None,
        )

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
                functools.partial(
                    recover_directory,
                    directory,
                    registry,
                    segment_max_bytes,
                    synchronous_writes=durability is Durability.ALWAYS,
                )
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
        flusher = self._flusher
        return WalStats(self._appends, self._writer.fsyncs, flusher.batches, flusher.bytes)

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

    def take_records(self) -> list[Record]:
        """The recovered records, handed over once: the log keeps no reference to them.

        A replayed mission's records are only needed to rebuild its state; held
        by :attr:`recovery` for the log's life they would cost a 10,000-unit
        mission over 100 MB.
        """
        records = self.recovery.records
        self.recovery = dataclasses.replace(self.recovery, records=[])
        return records

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
        seq, ts, acked = self._submit(record_type, data, urgent=True)
        try:
            await acked
        except WalFatalError:
            self._state = WalState.FAILED
            raise
        return new_record(seq, ts, record_type, data)

    def append_soon(self, record_type: str, data: dict[str, Any]) -> Record:
        """Queue a record behind every earlier one and return at once, durable or not.

        The record is written with its batch, in order, so once a later
        :meth:`append` returns, this one is durable too. With no later append
        it reaches the disk within
        :data:`~opencode_orchestrator.wal.flusher.LAZY_WINDOW` under ``always``
        (it waits that long for a durable append to share its sync) and within
        ``sync_interval`` under ``interval``. A crash before that may lose it.
        If it cannot be stored the log fails, and the next append raises
        :class:`WalFatalError`.

        Raises:
            The same as :meth:`append`, for what it checks before queueing.
        """
        seq, ts, acked = self._submit(record_type, data, urgent=False)
        if isinstance(acked, asyncio.Future):
            acked.add_done_callback(_leave_to_the_next_append)
        elif inspect.iscoroutine(acked):
            acked.close()  # off asyncio: nothing to wait for, the flusher holds the batch
        return new_record(seq, ts, record_type, data)

    def _submit(
        self, record_type: str, data: dict[str, Any], *, urgent: bool
    ) -> tuple[int, float, Awaitable[None]]:
        flusher = self._flusher
        if self._state is not WalState.OPEN or flusher.fatal is not None:
            self._check_usable()  # raises
        # The common case (a plain dict under a type without a model) costs one
        # set lookup; anything else takes the full check, which raises or validates.
        if type(data) is not dict or record_type not in self._unchecked:
            self._registry.check_append(record_type, data)
        if urgent:
            flusher.announce()
        seq, ts = self._next_seq, time.time()
        try:
            line = encode_record(seq, ts, record_type, data)
        except TypeError as exc:
            raise WalInvalidPayloadError(f"payload of {record_type!r}: {exc}") from exc
        self._next_seq = seq + 1
        self._appends += 1
        return seq, ts, flusher.submit(line, seq + 1, urgent=urgent)

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
            await self._drain()
            self._check_usable()
            try:
                await anyio.to_thread.run_sync(self._persist_snapshot, seq, encoded)
            except OSError as exc:
                self._state = WalState.FAILED
                self._fatal = WalFatalError(f"snapshot of {self.directory} failed: {exc!r}")
                raise WalFatalError(str(self._fatal)) from exc
        return seq

    async def _drain(self) -> None:
        # Batches complete in order: once the newest is done, all are.
        self._flusher.urge()  # queued records alone would wait out their window
        batch = self._flusher.last_batch
        if batch is not None:
            await batch.wait()

    def _persist_snapshot(self, seq: int, encoded: bytes) -> None:
        if self.durability is not Durability.ALWAYS:
            self._writer.sync()
        write_snapshot(self.directory, seq, encoded)
        removed = compact(self.directory, seq)
        _log.info("wal.snapshot", seq=seq, bytes=len(encoded), removed=len(removed))

    async def close(self) -> None:
        """Flush what is queued, sync, stop the flusher, release the lock; idempotent.

        A failed log is released too but stays ``FAILED``.

        Raises:
            WalFatalError: the final flush or sync failed (resources are released).
        """
        if self._state in (WalState.CLOSED, WalState.CLOSING):
            return
        was_open = self._state is WalState.OPEN
        if was_open:
            self._state = WalState.CLOSING
        with anyio.CancelScope(shield=True):
            await self._drain()
            final_sync_error = await anyio.to_thread.run_sync(self._release)
        self._fatal = self._fatal or final_sync_error or self._flusher.fatal
        if self._fatal is not None:
            self._state = WalState.FAILED
        if self._state is WalState.CLOSING:
            self._state = WalState.CLOSED
        elif was_open:
            raise WalFatalError(str(self._fatal))

    def _release(self) -> WalFatalError | None:
        """Stop the flusher, sync, close, unlock (worker thread); return a sync failure."""
        self._flusher.stop()
        try:
            if self._state is WalState.CLOSING and self._flusher.fatal is None:
                self._writer.sync(only_if_dirty=True)
        except OSError as exc:
            return WalFatalError(f"final sync of {self.directory} failed: {exc!r}")
        finally:
            self._writer.close()
            self._lock.release()
        return None

    def _check_usable(self) -> None:
        if self._fatal is None:
            self._fatal = self._flusher.fatal
        if self._fatal is not None:
            self._state = WalState.FAILED
            raise WalFatalError(str(self._fatal))
        if self._state is not WalState.OPEN:
            raise WalClosedError(f"write-ahead log {self.directory} is {self._state.value}")


def _leave_to_the_next_append(acked: asyncio.Future[None]) -> None:
    # Nobody awaits an append_soon: its failure is the flusher's, and the next
    # append raises it. Taking the exception here spares asyncio's warning.
    if not acked.cancelled():
        acked.exception()
