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

Blocking (subprocesses, file reads): call from a worker thread.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Final

__all__ = ["diff_stats"]

_EMPTY_TREE: Final = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_MAX_FILES: Final = 5000
_MAX_READ: Final = 8 << 20
_TIMEOUT: Final = 60.0
_LOCATION_VARS: Final = frozenset(
    {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY"}
)


def diff_stats(project: Path) -> dict[str, Any]:
    """``{"source", "files": [{"path", "added", "deleted"}], "added", "deleted", "more"}``.

    ``added``/``deleted`` of a binary file are ``None``. ``source`` says where
    the figures came from, or why there are none (``files`` then empty).
    Never raises: a failing git becomes the ``source`` text.
    """
    if not project.is_dir():
        return _none(f"none: the project directory {project} is not there")
    try:
        inside = _git(project, "rev-parse", "--is-inside-work-tree")
    except (OSError, subprocess.SubprocessError) as exc:
        return _none(f"none: git could not be run ({exc})")
    if inside.returncode != 0 or inside.stdout.strip() != b"true":
        return _none("none: the project is not a git repository")
    try:
        head = _git(project, "rev-parse", "--verify", "-q", "HEAD")
        base = head.stdout.decode().strip() if head.returncode == 0 else _EMPTY_TREE
        files = _tracked(project, base) + _untracked(project)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return _none(f"none: git failed ({exc})")
    files.sort(key=lambda f: f["path"])
    where = f"HEAD {base[:12]}" if base != _EMPTY_TREE else "an empty tree (no commit yet)"
    return {
        "source": (
            f"`git diff --numstat` of the working tree against {where}, plus untracked files, "
            "taken when this report was written: it includes any change made outside the mission"
        ),
        "files": files[:_MAX_FILES],
        "more": max(0, len(files) - _MAX_FILES),
        "added": sum(f["added"] or 0 for f in files),
        "deleted": sum(f["deleted"] or 0 for f in files),
    }


def _none(source: str) -> dict[str, Any]:
    return {"source": source, "files": [], "more": 0, "added": 0, "deleted": 0}


def _git(project: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    env |= {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", "-C", str(project), *args],
        capture_output=True,
        check=False,
        env=env,
        timeout=_TIMEOUT,
    )


def _tracked(project: Path, base: str) -> list[dict[str, Any]]:
    result = _git(
        project,
        *("diff", "--numstat", "-z", "--no-color", "--no-ext-diff", "--no-textconv"),
        *("--no-renames", "--ignore-submodules=dirty", "--relative", base),
        *("--", ".", ":(exclude).opencode/orchestrator"),
    )
    if result.returncode != 0:
        raise ValueError(result.stderr.decode("utf-8", "replace").strip() or "git diff failed")
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


def _untracked(project: Path) -> list[dict[str, Any]]:
    result = _git(
        project,
        "ls-files",
        "-z",
        "--others",
        "--exclude-standard",
        "--",
        ".",
        ":(exclude).opencode",
    )
    if result.returncode != 0:
        raise ValueError(result.stderr.decode("utf-8", "replace").strip() or "git ls-files failed")
    files = []
    for name in sorted(result.stdout.split(b"\0"))[:_MAX_FILES]:
        if name:
            lines = _lines(project / os.fsdecode(name))
            files.append({"path": os.fsdecode(name), "added": lines, "deleted": 0})
    return files


def _lines(path: Path) -> int | None:
    """A new file's lines, as numstat counts them; ``None`` for binary or unreadable."""
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_READ)
    except OSError:
        return None
    if b"\0" in data:
        return None
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
