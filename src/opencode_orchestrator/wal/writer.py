"""The append side of segments: batched writes, fdatasync, rotation.

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

    def __init__(self, directory: Path, path: Path, fd: int, size: int, max_bytes: int) -> None:
        self.directory = directory
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
        cls, directory: Path, next_seq: int, last: Path | None, max_bytes: int
    ) -> SegmentWriter:
        """Append to ``last`` (a segment ending just before ``next_seq``) or start a new one."""
        if last is None:
            path, fd = _create_segment(directory, next_seq)
            return cls(directory, path, fd, 0, max_bytes)
        fd = os.open(last, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        os.fchmod(fd, FILE_MODE)
        return cls(directory, last, fd, os.fstat(fd).st_size, max_bytes)

    def write_batch(self, payload: bytes, *, sync: bool, next_seq: int) -> None:
        """Write ``payload`` (whole lines); fdatasync when ``sync``; maybe rotate.

        ``next_seq`` is the seq of the record after this batch, i.e. the name of
        the segment a rotation would create.
        """
        with self._lock:
            fd = self._require_fd()
            write_all(fd, payload)
            self.size += len(payload)
            if sync:
                os.fdatasync(fd)
                self.fsyncs += 1
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
        self.path, self._fd = _create_segment(self.directory, next_seq)
        self.size = 0

    def _require_fd(self) -> int:
        if self._fd is None:
            raise OSError(f"segment writer for {self.directory} is closed")
        return self._fd


def _create_segment(directory: Path, first_seq: int) -> tuple[Path, int]:
    path = segment_path(directory, first_seq)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    fsync_dir(directory)
    return path, fd
