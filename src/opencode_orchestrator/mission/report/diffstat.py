"""The project's diff stats, from git, when the report is written.

The journal records which files each worker *said* it changed, not how much:
OpenCode's own diffs (``GET /session/:id/diff``, ``session.diff`` events) are
not journaled. So the figures come from the project itself, taken when the
report is written: ``git diff --numstat`` against ``HEAD`` (the engine never
commits in the project, so ``HEAD`` is where the mission started unless
someone committed meanwhile), plus the lines of untracked files. That is the
working tree's whole change, including any edit made outside the mission,
and the report says so. A project that is not a git repository has no diff
stats, and the report says that instead: no figure is ever guessed.

Git runs through :mod:`~opencode_orchestrator.mission.worktrees`' helpers, so
the report sees the project's change exactly as the master reviewer's diff
does: the same base (``HEAD``, or the repository's own empty tree before the
first commit), the orchestrator's state left out, no untracked file under
``.opencode/``, no nested repository. Git runs off the event loop; files are
read in a worker thread.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.to_thread

from opencode_orchestrator.mission.errors import WorktreeError
from opencode_orchestrator.mission.worktrees import (
    GIT_DIFF,
    SCOPE,
    empty_tree,
    head_commit,
    is_git_repo,
    run_git,
    untracked_files,
)

__all__ = ["MAX_FILES", "diff_stats"]

MAX_FILES: Final = 5000
"""Files listed at most; the rest are counted in ``more``."""
_BINARY_PROBE: Final = 8000
"""Bytes git looks at for a NUL to call a file binary."""
_CHUNK: Final = 1 << 20
_TIMEOUT: Final = 60.0


async def diff_stats(project: Path, *, max_files: int = MAX_FILES) -> dict[str, Any]:
    """The project's change: ``source``, ``files``, ``more``, ``uncounted``, the totals.

    ``files`` (``[{"path", "added", "deleted"}]``) lists at most ``max_files``
    files, by path; ``more`` says how many more changed. ``added``/``deleted``
    of a binary file are ``None``. The totals ``added`` and ``deleted`` cover
    every tracked file and the untracked files listed: the ``uncounted``
    untracked files past the list are not read. ``source`` says where the
    figures came from, or why there are none (``files`` then empty). Never
    raises: a failing git becomes the ``source`` text.
    """
    if not await anyio.to_thread.run_sync(project.is_dir):
        return _none(f"none: the project directory {project} is not there")
    try:
        with anyio.fail_after(_TIMEOUT):
            return await _stats(project, max_files)
    except TimeoutError:
        return _none(f"none: git took longer than {_TIMEOUT:g} s")
    except WorktreeError as exc:
        return _none(f"none: git failed ({exc})")


def _none(source: str) -> dict[str, Any]:
    return {"source": source, "files": [], "more": 0, "uncounted": 0, "added": 0, "deleted": 0}


async def _stats(project: Path, max_files: int) -> dict[str, Any]:
    if not await is_git_repo(project):
        return _none("none: the project is not a git repository")
    head = await head_commit(project)
    base = head if head is not None else await empty_tree(project)
    files = await _tracked(project, base)
    new = await untracked_files(project)
    files += [{"path": name, "added": None, "deleted": 0} for name in new]
    files.sort(key=lambda f: f["path"])
    listed = files[:max_files]
    untracked = set(new)
    to_read = [f for f in listed if f["path"] in untracked]
    lines = await anyio.to_thread.run_sync(_count_lines, project, [f["path"] for f in to_read])
    for entry, count in zip(to_read, lines, strict=True):
        entry["added"] = count
    counted = [f for f in files if f["path"] not in untracked] + to_read
    where = f"HEAD {base[:12]}" if head is not None else "an empty tree (no commit yet)"
    return {
        "source": (
            f"`git diff --numstat` of the working tree against {where}, plus untracked files, "
            "taken when this report was written: it includes any change made outside the mission"
        ),
        "files": listed,
        "more": len(files) - len(listed),
        "uncounted": len(new) - len(to_read),
        "added": sum(f["added"] or 0 for f in counted),
        "deleted": sum(f["deleted"] or 0 for f in counted),
    }


async def _tracked(project: Path, base: str) -> list[dict[str, Any]]:
    result = await run_git(
        project,
        *GIT_DIFF,
        *("--numstat", "-z", "--no-renames", "--relative", base, "--", *SCOPE),
    )
    files = []
    for entry in result.stdout.split(b"\0"):
        if not entry:
            continue
        added, deleted, path = entry.split(b"\t", 2)
        files.append(
            {
                "path": os.fsdecode(path),
                "added": None if added == b"-" else int(added),
                "deleted": None if deleted == b"-" else int(deleted),
            }
        )
    return files


def _count_lines(project: Path, names: list[str]) -> list[int | None]:
    return [_lines(project / name) for name in names]


def _lines(path: Path) -> int | None:
    """A new file's lines, as numstat counts them; ``None`` for binary or unreadable.

    A symbolic link is one line (its target), as git counts it; anything but
    a regular file (a FIFO, a device) is never opened.
    """
    count, last = 0, b"\n"
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            return 1
        if not stat.S_ISREG(mode):
            return None
        with path.open("rb") as file:
            chunk = file.read(_CHUNK)
            if b"\0" in chunk[:_BINARY_PROBE]:
                return None
            while chunk:
                count += chunk.count(b"\n")
                last = chunk[-1:]
                chunk = file.read(_CHUNK)
    except OSError:
        return None
    return count + (0 if last == b"\n" else 1)
