"""The exclusive directory lock: one writer per log, across and within processes.

``flock`` locks belong to an open file description, so a second
:class:`DirectoryLock` in the same process conflicts exactly like another
process does. The kernel drops the lock when the holder dies, even by SIGKILL,
so a stale ``LOCK`` file never blocks recovery; its pid is informational.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from pathlib import Path

from opencode_orchestrator.wal.errors import WalLockedError
from opencode_orchestrator.wal.paths import FILE_MODE, LOCK_NAME

__all__ = ["DirectoryLock", "lock_holder", "lock_holders"]

_PROC_LOCKS = Path("/proc/locks")


class DirectoryLock:
    """An acquired ``flock(LOCK_EX)`` on ``<directory>/LOCK`` (blocking I/O: use a thread)."""

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> DirectoryLock:
        """Take the lock without waiting and write our pid into the file.

        Raises:
            WalLockedError: someone else holds it; the error names their pid.
        """
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WalLockedError(directory, _read_pid(fd)) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        return cls(directory, fd)

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up; idempotent."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def lock_holder(directory: Path) -> int | None:
    """The pid of the process holding ``directory``'s lock, without touching the lock.

    Read from ``/proc/locks`` (Linux): taking the lock to test it would make a
    process opening the log meanwhile fail with :class:`WalLockedError`.
    ``None`` when nobody holds it, there is no ``LOCK`` file, or the system
    has no ``/proc/locks`` (blocking I/O: a few small reads).
    """
    return lock_holders([directory]).get(directory)


def lock_holders(directories: Iterable[Path]) -> dict[Path, int]:
    """:func:`lock_holder` of each of ``directories`` (held ones only), reading the table once."""
    wanted: dict[str, Path] = {}
    for directory in directories:
        try:
            info = (directory / LOCK_NAME).stat()
        except OSError:
            continue
        key = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
        wanted[key] = directory
    if not wanted:
        return {}
    try:
        table = _PROC_LOCKS.read_text()
    except OSError:
        return {}
    held: dict[Path, int] = {}
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 7092 fd:01:1310868 0 EOF"; waiters read "1: -> FLOCK ..."
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[4].isdigit():
            holder_of = wanted.get(fields[5])
            if holder_of is not None:
                held[holder_of] = int(fields[4])
    return held
