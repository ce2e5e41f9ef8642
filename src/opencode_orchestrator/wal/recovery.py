"""What ``WriteAheadLog.open`` does on disk before the first append.

Remove leftover ``.tmp`` files, scan, cut a torn tail (keeping the bytes in a
``.broken`` file), refuse any other damage, drop segments the snapshot already
covers (finishing an interrupted compaction), then position the writer. Runs
whole in one worker thread, under the directory lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.wal.errors import WalCorruptError
from opencode_orchestrator.wal.paths import fsync_dir, list_temporaries
from opencode_orchestrator.wal.record import Record
from opencode_orchestrator.wal.registry import RecordRegistry
from opencode_orchestrator.wal.segment import TruncatedTail, cut_tail, scan_directory
from opencode_orchestrator.wal.snapshot import compact
from opencode_orchestrator.wal.writer import SegmentWriter

__all__ = ["Recovery", "recover_directory"]

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What opening a log found: replay ``snapshot_state`` then ``records``.

    Attributes:
        snapshot_state: the newest valid snapshot's state, ``None`` without one.
        snapshot_seq: the seq that snapshot covers (0 without one).
        records: every record after ``snapshot_seq``, in order (empty once
            taken by :meth:`~opencode_orchestrator.wal.log.WriteAheadLog.take_records`).
        truncated_tail: the torn tail that was cut, if any.
        last_seq: the seq of the last record found (or of the snapshot).
    """

    snapshot_state: dict[str, Any] | None
    snapshot_seq: int
    records: list[Record]
    truncated_tail: TruncatedTail | None
    last_seq: int


def recover_directory(
    directory: Path,
    registry: RecordRegistry,
    segment_max_bytes: int,
    *,
    synchronous_writes: bool = False,
) -> tuple[Recovery, SegmentWriter]:
    """Bring ``directory`` to a consistent state and open its writer.

    Raises:
        WalCorruptError: damage before the tail.
        WalVersionError: data from an unknown format version.
        WalUnknownRecordTypeError: a record type missing from ``registry``.
    """
    temporaries = list_temporaries(directory)
    for path in temporaries:
        path.unlink(missing_ok=True)
    if temporaries:
        fsync_dir(directory)
        _log.info("wal.temporaries_removed", paths=[str(p) for p in temporaries])

    scan = scan_directory(directory, registry)
    for path, reason in scan.skipped_snapshots:
        _log.warning("wal.snapshot_skipped", path=str(path), reason=reason)
    truncated = None
    if scan.damage is not None:
        if not scan.damage.at_tail:
            raise WalCorruptError(scan.damage.path, scan.damage.offset, scan.damage.reason)
        truncated = cut_tail(scan.damage)
    if scan.snapshot is not None:
        removed = compact(directory, scan.snapshot.seq)
        if removed:
            _log.info("wal.compaction_finished", removed=[str(p) for p in removed])

    live = [s for s in scan.segments if not s.covered]
    last = live[-1] if live else None
    # Append to the last segment only if it ends exactly before next_seq; else
    # (no segment, or a snapshot newer than every record) start a fresh one.
    last_next = (last.last_seq + 1) if last is not None and last.last_seq else None
    if last is not None and last.last_seq is None:
        last_next = last.first_seq
    reuse = last.path if last is not None and last_next == scan.next_seq else None
    writer = SegmentWriter.open(
        directory,
        scan.next_seq,
        reuse,
        segment_max_bytes,
        synchronous_writes=synchronous_writes,
    )
    recovery = Recovery(
        snapshot_state=scan.snapshot.state if scan.snapshot is not None else None,
        snapshot_seq=scan.snapshot_seq,
        records=scan.records,
        truncated_tail=truncated,
        last_seq=scan.records[-1].seq if scan.records else scan.snapshot_seq,
    )
    return recovery, writer
