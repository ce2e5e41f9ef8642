"""Tools a scripted turn runs for real: ``write``/``edit`` change files, ``todowrite`` todos.

File work happens on the event loop: a tool reads and writes one small file,
a few system calls that take microseconds, where a hop to a worker thread
and back cost ten times that in CPU (thread wake-ups, GIL hand-offs) and split
the turn's writes to the store into separate commits. Paths must stay inside
the session's directory: the simulator writes where a test told it to, never
elsewhere.
"""

from __future__ import annotations

import difflib
import functools
import locale
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from opencode_orchestrator.sim.state.records import Json

__all__ = [
    "FileChange",
    "ToolFailedError",
    "apply_file_tool",
    "diff_entry",
    "plan_file_tool",
    "unified_diff",
]


class ToolFailedError(Exception):
    """A tool call the simulator could not carry out; its part ends in state ``error``."""


@dataclass(frozen=True, slots=True)
class FileChange:
    """What one write or edit did to one file."""

    path: Path
    relative: str
    existed: bool
    before: str
    after: str


_ENCODING: Final = locale.getpreferredencoding(False)
"""What ``Path.read_text``/``write_text`` encode with (they are given no encoding)."""
_WRITE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
"""What ``open(path, "w")`` opens with."""


@functools.lru_cache(maxsize=64)
def _root(directory: str) -> str:
    # A session's directory is resolved once, not for every file it writes.
    return os.path.realpath(directory)


def _resolve(directory: str, file_path: str) -> tuple[Path, str]:
    # Path.resolve() and is_relative_to(), done on strings: same system calls,
    # without pathlib parsing every path twice.
    root = _root(directory)
    target = os.path.realpath(os.path.join(root, file_path))
    inside = root if root.endswith(os.sep) else root + os.sep
    if target == root:
        relative = "."
    elif target.startswith(inside):
        relative = target[len(inside) :]
    else:
        raise ToolFailedError(f"{file_path} is outside the project directory {root}")
    return Path(target), relative


def _plan(directory: str, name: str, args: dict[str, Any]) -> FileChange:
    file_path = args.get("filePath")
    if not isinstance(file_path, str) or not file_path:
        raise ToolFailedError(f"{name}: filePath is required")
    target, relative = _resolve(directory, file_path)
    existed = os.path.exists(target)
    before = target.read_text() if existed else ""
    if name == "write":
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolFailedError("write: content must be a string")
        after = content
    else:
        old, new = args.get("oldString"), args.get("newString")
        if not isinstance(old, str) or not isinstance(new, str):
            raise ToolFailedError("edit: oldString and newString must be strings")
        if old not in before:
            raise ToolFailedError(f"edit: oldString not found in {relative}")
        after = (
            before.replace(old, new, 1) if not args.get("replaceAll") else before.replace(old, new)
        )
    return FileChange(target, relative, existed, before, after)


def _write(change: FileChange) -> FileChange:
    change.path.parent.mkdir(parents=True, exist_ok=True)
    # The bytes Path.write_text writes, without a text-mode file object (which
    # also asks whether the file is a terminal and where it stands).
    data = change.after.encode(_ENCODING)
    fd = os.open(change.path, _WRITE_FLAGS, 0o666)
    try:
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)
    return change


def plan_file_tool(directory: str, name: str, args: dict[str, Any]) -> FileChange:
    """What ``write`` or ``edit`` would do, without doing it (for the permission request).

    Raises:
        ToolFailedError: bad arguments, a path outside the directory, or an I/O error.
    """
    return _guarded(name, _plan, directory, name, args)


def apply_file_tool(
    directory: str, name: str, args: dict[str, Any], planned: FileChange | None = None
) -> FileChange:
    """Carry out ``write`` or ``edit`` in ``directory``: ``planned``, if it is still current.

    Raises:
        ToolFailedError: bad arguments, a path outside the directory, or an I/O error.
    """
    if planned is not None:
        return _guarded(name, _write, planned)
    return _guarded(name, _write, _guarded(name, _plan, directory, name, args))


def _guarded(name: str, work: Callable[..., FileChange], *args: Any) -> FileChange:
    # An OS error fails the tool call (its part ends in `error`), not the whole turn.
    try:
        return work(*args)
    except OSError as exc:
        raise ToolFailedError(f"{name}: {exc}") from exc


def unified_diff(change: FileChange) -> str:
    """The change as unified diff text (``metadata.diff`` of an ``edit`` request)."""
    lines = difflib.unified_diff(
        change.before.splitlines(keepends=True),
        change.after.splitlines(keepends=True),
        fromfile=str(change.path),
        tofile=str(change.path),
    )
    return "".join(lines)


def diff_entry(change: FileChange, original: str | None) -> Json:
    """A ``SnapshotFileDiff`` of a file from its content before the session to now."""
    base = original if original is not None else (change.before if change.existed else None)
    before_lines = base.splitlines() if base is not None else []
    after_lines = change.after.splitlines()
    kept = len(set(before_lines) & set(after_lines))
    return {
        "file": change.relative,
        "additions": max(0, len(after_lines) - kept),
        "deletions": max(0, len(before_lines) - kept),
        "status": "added" if base is None else "modified",
    }
