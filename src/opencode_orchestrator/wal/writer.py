"""The append side of segments: batched writes, fdatasync, rotation.

Under the ``always`` policy segments are opened with ``O_DSYNC``: each
``write`` returns only once its data is on disk, exactly as ``write`` followed
by ``fdatasync`` would, but in one system call. That matters for group commit
in Python: between a separate ``write`` and ``fdatasync`` the flusher thread
must take the GIL back, which it cannot while the event loop is busy encoding
the next batch, so the sync would never overlap the loop's work.

One :class:`SegmentWriter` owns the file descriptor of the newest segment. Its
methods block and are called from worker threads: the group-commit flusher and,
under the ``interval`` policy, the background syncer. A lock serialises them so
a sync never races a rotation. Any ``OSError`` propagates unchanged; the log
above turns it into a fail-stop.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from opencode_orchestrator.wal.paths import FILE_MODE, fsync_dir, segment_path, write_all

__all__ = ["SegmentWriter"]


class SegmentWriter:
    """Appends byte batches to the newest segment and rotates past ``max_bytes``."""

    def __init__(
        self,
        directory: Path,
        path: Path,
        fd: int,
        size: int,
        max_bytes: int,
        *,
        synchronous_writes: bool = False,
    ) -> None:
        self.directory = directory
        self.synchronous_writes = synchronous_writes
        self.path = path
        self.size = size
        self.max_bytes = max_bytes
        self.fsyncs = 0
        self._fd: int | None = fd
        self._dirty = False
        self.dirty_since = 0.0
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        directory: Path,
        next_seq: int,
        last: Path | None,
        max_bytes: int,
        *,
        synchronous_writes: bool = False,
    ) -> SegmentWriter:
        """Append to ``last`` (a segment ending just before ``next_seq``) or start a new one.

        With ``synchronous_writes`` the segment is opened ``O_DSYNC``, so a
        ``write_batch(sync=True)`` is durable when its write returns.
        """
        if last is None:
            path, fd = _create_segment(directory, next_seq, synchronous_writes)
            return cls(directory, path, fd, 0, max_bytes, synchronous_writes=synchronous_writes)
        fd = os.open(last, _flags(synchronous_writes))
        os.fchmod(fd, FILE_MODE)
        size = os.fstat(fd).st_size
        return cls(directory, last, fd, size, max_bytes, synchronous_writes=synchronous_writes)

    def write_batch(self, payload: bytes | bytearray, *, sync: bool, next_seq: int) -> None:
        """Write ``payload`` (whole lines); fdatasync when ``sync``; maybe rotate.

        ``next_seq`` is the seq of the record after this batch, i.e. the name of
        the segment a rotation would create.
        """
        with self._lock:
            fd = self._require_fd()
            written = os.write(fd, payload)
            if written < len(payload):  # short writes happen; rare enough to copy
                write_all(fd, bytes(payload[written:]))
            self.size += len(payload)
            if sync:
                if not self.synchronous_writes:
                    os.fdatasync(fd)
                self.fsyncs += 1  # a durable point either way
                self._dirty = False
            elif not self._dirty:
                self._dirty = True
                self.dirty_since = time.monotonic()
            if self.size >= self.max_bytes:
                self._rotate(fd, next_seq)

    @property
    def dirty(self) -> bool:
        """Whether bytes were written since the last fdatasync."""
        return self._dirty

    def sync(self, *, only_if_dirty: bool = True) -> None:
        """Flush the current segment to disk if needed (for the interval syncer and close)."""
        with self._lock:
            if self._fd is None or (only_if_dirty and not self._dirty):
                return
            os.fdatasync(self._fd)
            self.fsyncs += 1
            self._dirty = False

    def close(self) -> None:
        """Close the descriptor without syncing; idempotent."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)

    def _rotate(self, fd: int, next_seq: int) -> None:
        # The old segment must be complete on disk before the new one can be
        # trusted to follow it: a crash in between must not leave a gap.
        if self._dirty:
            os.fdatasync(fd)
            self.fsyncs += 1
            self._dirty = False
        self._fd = None
        os.close(fd)
        self.path, self._fd = _create_segment(self.directory, next_seq, self.synchronous_writes)
        self.size = 0

    def _require_fd(self) -> int:
        if self._fd is None:
            raise OSError(f"segment writer for {self.directory} is closed")
        return self._fd


def _flags(synchronous_writes: bool) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
    return flags | os.O_DSYNC if synchronous_writes else flags


def _create_segment(directory: Path, first_seq: int, synchronous_writes: bool) -> tuple[Path, int]:
    path = segment_path(directory, first_seq)
    fd = os.open(path, _flags(synchronous_writes) | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    fsync_dir(directory)
    return path, fd
