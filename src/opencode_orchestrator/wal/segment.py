"""Reading segments back: validation, torn-tail detection and the tail cut.

:func:`scan_directory` never modifies anything; it reports the newest valid
snapshot, the records after it and the first :class:`Damage` it met. The
callers decide: ``open`` cuts a damaged *tail* (:func:`cut_tail`) and refuses
anything else, ``verify`` reports, ``repair`` salvages. Blocking I/O and CPU
work: call from a worker thread.

A damage is a *tail* when it sits in the last segment and no line after it has
a valid checksum: that is what an interrupted append leaves behind (partial
line, garbage, zeros). Everything else is corruption.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.wal.errors import WalUnknownRecordTypeError, WalVersionError
from opencode_orchestrator.wal.paths import (
    broken_path_for,
    fsync_dir,
    list_segments,
    list_snapshots,
    write_private_file,
)
from opencode_orchestrator.wal.record import (
    InvalidLineError,
    Record,
    UnsupportedVersionError,
    decode_line,
    frame_is_valid,
)
from opencode_orchestrator.wal.registry import RecordRegistry
from opencode_orchestrator.wal.snapshot import Snapshot, read_snapshot

__all__ = [
    "Damage",
    "ScanResult",
    "SegmentSummary",
    "TruncatedTail",
    "cut_tail",
    "move_tail",
    "scan_directory",
]

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Damage:
    """The first invalid byte range found; ``at_tail`` means it is a torn append."""

    path: Path
    offset: int
    reason: str
    at_tail: bool


@dataclass(frozen=True, slots=True)
class TruncatedTail:
    """What recovery cut from the end of the last segment, and where it was kept."""

    path: Path
    offset: int
    cut_bytes: int
    broken_path: Path
    reason: str


@dataclass(slots=True)
class SegmentSummary:
    """One segment as scanned; ``covered`` ones lie wholly inside the snapshot."""

    path: Path
    first_seq: int
    size: int
    records: int = 0
    last_seq: int | None = None
    covered: bool = False


@dataclass(slots=True)
class ScanResult:
    """Everything :func:`scan_directory` learned about a log directory."""

    snapshot: Snapshot | None
    skipped_snapshots: list[tuple[Path, str]] = field(default_factory=list)
    segments: list[SegmentSummary] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    damage: Damage | None = None
    next_seq: int = 1

    @property
    def snapshot_seq(self) -> int:
        """The seq the snapshot covers, 0 without one."""
        return self.snapshot.seq if self.snapshot is not None else 0


def _newest_valid_snapshot(directory: Path, result: ScanResult) -> None:
    for seq, path in reversed(list_snapshots(directory)):
        try:
            snapshot = read_snapshot(path)
        except InvalidLineError as exc:
            result.skipped_snapshots.append((path, str(exc)))
            continue
        except UnsupportedVersionError as exc:
            raise WalVersionError(path, 0, exc.version) from None
        if snapshot.seq != seq:
            result.skipped_snapshots.append((path, f"names seq {seq}, holds {snapshot.seq}"))
            continue
        result.snapshot = snapshot
        return


def scan_directory(
    directory: Path, registry: RecordRegistry | None, *, keep_records: bool = True
) -> ScanResult:
    """Validate a log directory without changing it.

    Args:
        directory: the log directory.
        registry: record types allowed; ``None`` accepts any type (inspection).
        keep_records: collect the records after the snapshot (off to save memory).

    Raises:
        WalVersionError: a record or snapshot is from an unknown format version.
        WalUnknownRecordTypeError: a record type is not in ``registry``.
    """
    result = ScanResult(snapshot=None)
    _newest_valid_snapshot(directory, result)
    base = result.snapshot_seq
    segments = list_segments(directory)
    expected: int | None = None
    for index, (first_seq, path) in enumerate(segments):
        is_last = index == len(segments) - 1
        summary = SegmentSummary(path, first_seq, path.stat().st_size)
        result.segments.append(summary)
        if not is_last and segments[index + 1][0] <= base + 1:
            summary.covered = True
            continue
        if expected is None and first_seq > base + 1:
            missing = f"records {base + 1}..{first_seq - 1} are missing"
            result.damage = Damage(path, 0, missing, at_tail=False)
            break
        if expected is not None and first_seq != expected:
            result.damage = Damage(path, 0, f"expected a segment starting at seq {expected}", False)
            break
        expected = first_seq
        expected, result.damage = _scan_segment(
            path,
            summary,
            expected=expected,
            base=base,
            result=result,
            registry=registry,
            is_last=is_last,
            keep=keep_records,
        )
        if result.damage is not None:
            break
    result.next_seq = max(expected or 1, base + 1)
    return result


def _scan_segment(
    path: Path,
    summary: SegmentSummary,
    *,
    expected: int,
    base: int,
    result: ScanResult,
    registry: RecordRegistry | None,
    is_last: bool,
    keep: bool,
) -> tuple[int, Damage | None]:
    data = path.read_bytes()
    size = len(data)
    pos = 0
    records = result.records
    while pos < size:
        newline = data.find(b"\n", pos)
        end = size if newline == -1 else newline
        try:
            record = _decode_terminated(data[pos:end], terminated=newline != -1)
        except InvalidLineError as exc:
            at_tail = is_last and not _any_valid_frame(data, end + 1)
            return expected, Damage(path, pos, str(exc), at_tail)
        except UnsupportedVersionError as exc:
            raise WalVersionError(path, pos, exc.version) from None
        if record.seq != expected:
            return expected, Damage(path, pos, f"seq {record.seq} where {expected} was due", False)
        if registry is not None and record.type not in registry:
            raise WalUnknownRecordTypeError(record.type, path, pos)
        if keep and record.seq > base:
            records.append(record)
        summary.records += 1
        summary.last_seq = expected
        expected += 1
        pos = newline + 1
    return expected, None


def _decode_terminated(line: bytes, *, terminated: bool) -> Record:
    if not terminated:
        raise InvalidLineError("unterminated line")
    return decode_line(line)


def _any_valid_frame(data: bytes, start: int) -> bool:
    return any(frame_is_valid(line) for line in data[start:].split(b"\n"))


def move_tail(damage: Damage) -> tuple[Path, bytes]:
    """Move the bytes from ``damage.offset`` to the end into a new ``.broken`` file.

    Durable (the segment, the ``.broken`` file and the directory are synced);
    says nothing: returns the ``.broken`` file's path and the bytes moved.
    """
    broken = broken_path_for(damage.path)
    with damage.path.open("r+b") as segment:
        segment.seek(damage.offset)
        cut = segment.read()
        write_private_file(broken, cut, exclusive=True)
        segment.truncate(damage.offset)
        segment.flush()
        os.fsync(segment.fileno())
    fsync_dir(damage.path.parent)
    return broken, cut


def cut_tail(damage: Damage) -> TruncatedTail:
    """Move the bytes from ``damage.offset`` to the end into a ``.broken`` file (a torn tail)."""
    broken, cut = move_tail(damage)
    _log.warning(
        "wal.tail_truncated",
        path=str(damage.path),
        offset=damage.offset,
        cut_bytes=len(cut),
        broken=str(broken),
        reason=damage.reason,
    )
    return TruncatedTail(damage.path, damage.offset, len(cut), broken, damage.reason)
