"""Private files and directories: 0600 and 0700, whatever the umask.

The bottom of the package (it imports nothing of ours), so that both the WAL
and the logging pipeline can keep what they write to the user alone.
:func:`replace_private_file` publishes a whole file atomically (the WAL's
snapshots, the knowledge file and the mission report use it). Blocking I/O:
call it from a worker thread.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "ensure_private_dir",
    "fsync_dir",
    "replace_private_file",
    "write_all",
    "write_private_file",
]

FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` and missing parents as 0700, whatever the umask.

    An existing ``directory`` is tightened to 0700 as well; existing parents are
    left alone because they may be shared (the project itself).
    """
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(path, DIR_MODE)  # mkdir's mode passes through the umask
    os.chmod(directory, DIR_MODE)


def replace_private_file(path: Path, data: bytes, *, temporary_prefix: str | None = None) -> None:
    """Publish ``data`` as the 0600 file ``path``, whole or not at all.

    ``data`` goes to a new file of a random name next to ``path``
    (``<temporary_prefix><random>.tmp``, the prefix ``.<name>.`` unless
    given), is fsynced, renamed over ``path``, and the directory fsynced. A
    reader, or a crash, sees the old file or the new one, never part of one;
    two writers at once each publish a whole file, the last rename winning.
    If anything fails (a full disk, say) the temporary file is removed and
    the error raised; only a crash can leave one behind, and its name ends
    with ``.tmp`` for whoever cleans up.

    Raises:
        OSError: the file could not be written or renamed.
    """
    prefix = f".{path.name}." if temporary_prefix is None else temporary_prefix
    temporary = path.with_name(f"{prefix}{secrets.token_hex(8)}.tmp")
    try:
        write_private_file(temporary, data, exclusive=True)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make creations, renames and removals in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte of ``data`` is written (short writes happen)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_private_file(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write ``data`` to a 0600 file at ``path`` and fsync it (not its directory)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # the mode passes through the umask
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
