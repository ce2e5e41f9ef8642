"""Snapshots: the state as of a sequence number, written atomically.

A snapshot file holds one framed line (same checksum as records)::

    {"crc":"........","seq":420,"state":{...},"ts":1700000000.5,"v":2}

It is written to a temporary ``.<name>.<random>.tmp``, fsynced, renamed into
place and the directory fsynced
(:func:`~opencode_orchestrator.private_files.replace_private_file`); only then
may older segments and snapshots be dropped (:func:`compact`). A crash at any
point leaves either the old snapshot or the new one complete, plus at worst a
``.tmp`` file (removed on the next open) and segments the snapshot already
covers (skipped, then removed). Blocking I/O: call from a worker thread.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from opencode_orchestrator.private_files import replace_private_file
from opencode_orchestrator.wal.paths import fsync_dir, list_segments, list_snapshots, snapshot_path
from opencode_orchestrator.wal.record import (
    CURRENT_VERSION,
    InvalidLineError,
    UnsupportedVersionError,
    decode_object,
    frame,
)

__all__ = ["Snapshot", "compact", "encode_snapshot", "read_snapshot", "write_snapshot"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A loaded snapshot: ``state`` as of record ``seq``."""

    seq: int
    ts: float
    state: dict[str, Any]
    path: Path


def encode_snapshot(seq: int, state: dict[str, Any]) -> bytes:
    """The framed snapshot line for ``state`` as of ``seq``.

    Raises:
        TypeError: ``state`` holds something JSON cannot represent.
    """
    body = orjson.dumps(
        {"seq": seq, "state": state, "ts": time.time(), "v": CURRENT_VERSION},
        option=orjson.OPT_SORT_KEYS,
    )
    return frame(body) + b"\n"


def write_snapshot(directory: Path, seq: int, encoded: bytes) -> Path:
    """Atomically publish ``encoded`` as the snapshot of ``seq``; returns its path."""
    final = snapshot_path(directory, seq)
    replace_private_file(final, encoded)
    return final


def read_snapshot(path: Path) -> Snapshot:
    """Load and verify one snapshot file.

    Raises:
        InvalidLineError: torn, altered or malformed.
        UnsupportedVersionError: written by a newer format.
    """
    raw = path.read_bytes()
    if not raw.endswith(b"\n"):
        raise InvalidLineError("snapshot is not newline-terminated")
    obj = decode_object(raw[:-1])
    if obj.get("v") != CURRENT_VERSION:
        raise UnsupportedVersionError(obj.get("v"))
    seq, ts, state = obj.get("seq"), obj.get("ts"), obj.get("state")
    if type(seq) is not int or seq < 0 or not isinstance(state, dict):
        raise InvalidLineError("malformed snapshot fields")
    if not isinstance(ts, int | float):
        raise InvalidLineError("malformed snapshot timestamp")
    return Snapshot(seq, float(ts), state, path)


def compact(directory: Path, seq: int) -> list[Path]:
    """Drop snapshots older than ``seq`` and segments wholly covered by it.

    A segment is covered when the next segment starts at or before ``seq + 1``;
    the newest segment is always kept because the writer appends to it.
    Returns the removed paths.
    """
    removed = [path for snap_seq, path in list_snapshots(directory) if snap_seq < seq]
    segments = list_segments(directory)
    for (_first, path), (next_first, _next) in itertools.pairwise(segments):
        if next_first <= seq + 1:
            removed.append(path)
    for path in removed:
        path.unlink(missing_ok=True)
    if removed:
        fsync_dir(directory)
    return removed
