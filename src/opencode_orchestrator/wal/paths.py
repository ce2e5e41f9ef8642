"""Where a log lives and what its files are called (private file helpers come from private_files).

Layout of one log directory (see ``docs/wal-format.md``)::

    LOCK                                   flock target, holder pid inside
    seg-00000000000000000001.jsonl         records, named by their first seq
    snap-00000000000000000420.json         state as of seq 420
    *.tmp                                  unfinished snapshot, removed on open
    *.broken                               bytes cut by recovery or repair

Every function here does blocking I/O and is meant to run in a worker thread.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

from opencode_orchestrator.private_files import (
    DIR_MODE,
    FILE_MODE,
    ensure_private_dir,
    fsync_dir,
    write_all,
    write_private_file,
)

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "LOCK_NAME",
    "broken_path_for",
    "ensure_private_dir",
    "fsync_dir",
    "list_segments",
    "list_snapshots",
    "list_temporaries",
    "mission_wal_dir",
    "segment_path",
    "snapshot_path",
    "write_all",
    "write_private_file",
]

LOCK_NAME: Final = "LOCK"
_SEGMENT: Final = re.compile(r"seg-(\d{20})\.jsonl")
_SNAPSHOT: Final = re.compile(r"snap-(\d{20})\.json")
_MISSION_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def mission_wal_dir(project_dir: Path, mission_id: str) -> Path:
    """``<project>/.opencode/orchestrator/missions/<mission_id>/wal``.

    Raises:
        ValueError: ``mission_id`` could escape the missions directory.
    """
    if not _MISSION_ID.fullmatch(mission_id) or mission_id in {".", ".."}:
        raise ValueError(f"invalid mission id {mission_id!r}")
    return project_dir / ".opencode" / "orchestrator" / "missions" / mission_id / "wal"


def segment_path(directory: Path, first_seq: int) -> Path:
    """The segment whose first record is ``first_seq``."""
    return directory / f"seg-{first_seq:020d}.jsonl"


def snapshot_path(directory: Path, seq: int) -> Path:
    """The snapshot of the state as of ``seq``."""
    return directory / f"snap-{seq:020d}.json"


def _numbered(directory: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    found = []
    for entry in os.scandir(directory):
        match = pattern.fullmatch(entry.name)
        if match is not None:
            found.append((int(match.group(1)), Path(entry.path)))
    return sorted(found)


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """``(first_seq, path)`` of every segment, oldest first."""
    return _numbered(directory, _SEGMENT)


def list_snapshots(directory: Path) -> list[tuple[int, Path]]:
    """``(seq, path)`` of every snapshot, oldest first."""
    return _numbered(directory, _SNAPSHOT)


def list_temporaries(directory: Path) -> list[Path]:
    """Leftovers of an interrupted atomic write."""
    return sorted(Path(e.path) for e in os.scandir(directory) if e.name.endswith(".tmp"))


def broken_path_for(path: Path) -> Path:
    """A fresh ``<name>.broken[.N]`` next to ``path``, never overwriting earlier cuts."""
    candidate = path.with_name(path.name + ".broken")
    counter = 1
    while candidate.exists():
        counter += 1
        candidate = path.with_name(f"{path.name}.broken.{counter}")
    return candidate
