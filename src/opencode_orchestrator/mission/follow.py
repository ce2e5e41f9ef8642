"""Following a mission's journal as another process writes it: only the new records.

``status --watch`` must not take the WAL's lock (the running mission holds it)
and must not re-read a long log every quarter of a second. A
:class:`JournalFollower` remembers where it stopped (segment, byte offset,
next seq) and each :meth:`~JournalFollower.poll` folds only what was appended
since, into the same :class:`MissionModel`, exactly as
:func:`~opencode_orchestrator.mission.store.read_journal` folds a whole log.

What a writer can leave at the end of the log is handled as the WAL's own
recovery sees it: a line without its newline is an append in progress (read
next time); a bad line after which nothing valid follows in the last segment
is a torn tail (a resume cuts it and appends where it began, which is where
the follower waits). If the log changed under the follower otherwise (cut
below what was read, a repair), it reads the whole log again, once; damage
anywhere else is :class:`~opencode_orchestrator.wal.errors.WalCorruptError`.

Blocking I/O: call :meth:`~JournalFollower.poll` from a worker thread, and read
the model only between polls.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.wal.errors import WalCorruptError, WalError, WalVersionError
from opencode_orchestrator.wal.paths import list_segments
from opencode_orchestrator.wal.record import (
    InvalidLineError,
    UnsupportedVersionError,
    decode_line,
    frame_is_valid,
)

__all__ = ["JournalFollower"]


class _MovedError(Exception):
    """The log is no longer what the follower read: read it again from the start."""


class JournalFollower:
    """Folds a mission journal's records into :attr:`model` as they are appended."""

    def __init__(self, directory: Path, *, keep_evidence: bool = True) -> None:
        """Follow the journal in ``directory`` (a mission's ``wal`` directory)."""
        self.directory = directory
        self.keep_evidence = keep_evidence
        self.model = MissionModel(keep_evidence=keep_evidence)
        self._segment: tuple[int, Path] | None = None
        self._offset = 0
        self._next_seq = 1

    @property
    def folded(self) -> int:
        """How many records :attr:`model` holds (it grows as the journal does)."""
        return self._next_seq - 1

    def poll(self) -> MissionModel:
        """Fold in whatever was appended since the last poll; returns :attr:`model`.

        The model may be a new object after a re-read (keep the returned one).

        Raises:
            MissionNotFoundError: the directory is gone (or never was).
            WalCorruptError: damage that is not at the log's tail.
            WalVersionError: a record from a newer version.
        """
        if not self.directory.is_dir():
            raise MissionNotFoundError(f"{self.directory}: no mission journal there")
        try:
            self._advance()
        except _MovedError:
            self._restart()
            try:
                self._advance()
            except _MovedError:
                raise WalError(
                    f"{self.directory}: the log keeps changing under the reader"
                ) from None
        return self.model

    def _restart(self) -> None:
        self.model = MissionModel(keep_evidence=self.keep_evidence)
        self._segment, self._offset, self._next_seq = None, 0, 1

    def _advance(self) -> None:
        segments = list_segments(self.directory)
        if not segments:
            return  # created, nothing written yet
        if self._segment is None:
            if segments[0][0] != 1:
                missing = f"records 1..{segments[0][0] - 1} are missing"
                raise WalCorruptError(segments[0][1], 0, missing)
            self._segment, self._offset = segments[0], 0
        while True:
            if self._segment not in segments:
                raise _MovedError  # renamed or removed (a repair)
            index = segments.index(self._segment)
            last = index == len(segments) - 1
            if not self._read(self._segment[1], last=last) or last:
                return
            following = segments[index + 1]
            if following[0] != self._next_seq:
                raise _MovedError
            self._segment, self._offset = following, 0

    def _read(self, path: Path, *, last: bool) -> bool:
        """Fold the complete lines after the offset; False if stopped short of the end."""
        try:
            lines = path.open("rb")
        except FileNotFoundError:
            raise _MovedError from None
        with lines:
            if os.fstat(lines.fileno()).st_size < self._offset:
                raise _MovedError  # cut below what was read
            lines.seek(self._offset)
            for line in lines:
                if not line.endswith(b"\n"):
                    if last:
                        return False  # an append in progress
                    raise WalCorruptError(path, self._offset, "unterminated line")
                if not self._fold(path, line, lines, last=last):
                    return False
                self._offset += len(line)
        return True

    def _fold(self, path: Path, line: bytes, rest: BinaryIO, *, last: bool) -> bool:
        try:
            record = decode_line(line[:-1])
        except InvalidLineError as exc:
            if last and not any(frame_is_valid(after.rstrip(b"\n")) for after in rest):
                return False  # a torn tail: a resume cuts it and appends from here
            raise WalCorruptError(path, self._offset, str(exc)) from None
        except UnsupportedVersionError as exc:
            raise WalVersionError(path, self._offset, exc.version) from None
        if record.seq != self._next_seq:
            raise _MovedError
        self.model.apply(record.type, record.data, record.ts)
        self._next_seq += 1
        return True
