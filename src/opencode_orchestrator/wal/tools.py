"""Offline tools behind ``opencode-orchestrator wal``: inspect, verify, repair.

``inspect_log`` and ``verify_log`` only read, without the lock, so they may
run beside a live writer (they can then see a half-written last line, which
they report as a torn tail). ``repair_log`` takes the lock, so it refuses to
run while a writer is alive. Blocking I/O throughout: these are for the CLI.

Each takes a log directory, one of its files, or a mission's directory (the
one holding ``wal/``, which is followed). A directory that holds no log file
(no segment, snapshot, ``LOCK`` or ``.broken`` cut) is refused, and nothing
is created in it. A log with no segment at all is damaged: an opened log
always keeps its newest segment, so its records were lost.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.wal.errors import (
    WalError,
    WalUnknownRecordTypeError,
    WalVersionError,
    repair_hint,
)
from opencode_orchestrator.wal.lock import DirectoryLock
from opencode_orchestrator.wal.paths import (
    broken_path_for,
    fsync_dir,
    list_segments,
    list_temporaries,
)
from opencode_orchestrator.wal.record import Record, frame_is_valid
from opencode_orchestrator.wal.registry import RecordRegistry
from opencode_orchestrator.wal.segment import Damage, ScanResult, move_tail, scan_directory

__all__ = [
    "LogInspection",
    "RepairReport",
    "VerifyReport",
    "inspect_log",
    "repair_log",
    "resolve_log_dir",
    "verify_log",
]


_log = get_logger(__name__)

_LOG_FILE: Final = re.compile(
    r"(?:LOCK|seg-\d{20}\.jsonl|snap-\d{20}\.json)(?:\.broken(?:\.\d+)?)?"
    r"|\.snap-\d{20}\.json\.[0-9a-f]+\.tmp"
)
"""The names of the files a log directory holds (``docs/wal-format.md``)."""
_MISSIONS: Final = Path(".opencode", "orchestrator", "missions")


def resolve_log_dir(path: Path) -> Path:
    """The log directory ``path`` names.

    That is ``path`` itself, the directory of one of its files, or the ``wal/``
    of a mission's directory.

    Raises:
        WalError: ``path`` does not exist, or names no log (a directory that
            holds none of a log's files, nor a ``wal/`` that does).
    """
    if path.is_file():
        if _holds_log(path.parent):
            return path.parent
        raise WalError(
            f"{path}: not a file of a write-ahead log (its directory holds no segment, "
            "snapshot or LOCK file)"
        )
    if not path.is_dir():
        raise WalError(f"{path}: no such write-ahead log directory")
    if _holds_log(path):
        return path
    inner = path / "wal"
    if inner.is_dir():  # a mission's directory: its log is its wal/
        if _holds_log(inner):
            return inner
        path = inner
    raise WalError(
        f"{path}: not a write-ahead log directory: it holds no segment, snapshot or "
        f"LOCK file; {_where_logs_are(path)}"
    )


def _holds_log(directory: Path) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(_LOG_FILE.fullmatch(entry.name) for entry in entries)
    except OSError as exc:
        raise WalError(f"{directory}: cannot be read: {exc.strerror or exc}") from None


def _where_logs_are(directory: Path) -> str:
    if (directory / _MISSIONS).is_dir():
        return (
            f"it is a project: a mission's log is {directory / _MISSIONS}/<id>/wal "
            f"(`opencode-orchestrator status --project {directory}` lists the missions)"
        )
    if directory.name == _MISSIONS.name and directory.parent.name == _MISSIONS.parent.name:
        return f"a mission's log is {directory}/<id>/wal"
    return f"a mission's log is <project>/{_MISSIONS}/<id>/wal"


def _no_segment(directory: Path, scan: ScanResult) -> str | None:
    """What is wrong with a log that holds no segment (``None`` when it holds one)."""
    if scan.segments:
        return None
    if scan.snapshot is not None:
        return (
            f"{directory}: no segment after the snapshot of seq {scan.snapshot.seq}: the "
            "newest segment is never deleted, so it was lost, with any record after that seq"
        )
    return (
        f"{directory}: no segment: every record of this log is gone (an opened log always "
        "keeps its newest segment; a mission's first record, mission.created, is in one)"
    )


@dataclass(frozen=True, slots=True)
class LogInspection:
    """A read-only view of a log directory, any record type accepted."""

    directory: Path
    scan: ScanResult

    @property
    def records(self) -> list[Record]:
        """Records after the snapshot, up to the first damage."""
        return self.scan.records

    @property
    def missing_segments(self) -> str | None:
        """What is wrong when the log holds no segment at all (``None`` when it holds one)."""
        return _no_segment(self.directory, self.scan)

    def to_json(self, *, with_records: bool) -> dict[str, Any]:
        """A JSON-ready description (records only when ``with_records``)."""
        scan = self.scan
        out: dict[str, Any] = {
            "directory": str(self.directory),
            "snapshot": None
            if scan.snapshot is None
            else {
                "seq": scan.snapshot.seq,
                "ts": scan.snapshot.ts,
                "path": str(scan.snapshot.path),
            },
            "skipped_snapshots": [{"path": str(p), "reason": r} for p, r in scan.skipped_snapshots],
            "segments": [
                {
                    "path": str(s.path),
                    "first_seq": s.first_seq,
                    "last_seq": s.last_seq,
                    "records": s.records,
                    "bytes": s.size,
                    "covered_by_snapshot": s.covered,
                }
                for s in scan.segments
            ],
            "last_seq": scan.next_seq - 1,
            "damage": _damage_json(scan.damage),
            "missing_segments": self.missing_segments,
        }
        if with_records:
            out["records"] = [
                {"seq": r.seq, "ts": r.ts, "type": r.type, "data": r.data} for r in scan.records
            ]
        return out


def _damage_json(damage: Damage | None) -> dict[str, Any] | None:
    if damage is None:
        return None
    return {
        "path": str(damage.path),
        "offset": damage.offset,
        "reason": damage.reason,
        "torn_tail": damage.at_tail,
    }


def inspect_log(path: Path) -> LogInspection:
    """Read a log without the lock and without changing it.

    Raises:
        WalError: the path is missing or names no log (:func:`resolve_log_dir`).
        WalVersionError: data from a newer format (cannot be shown faithfully).
    """
    directory = resolve_log_dir(path)
    return LogInspection(directory, scan_directory(directory, None))


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Whether a log is sound; ``problems`` say what and where when it is not."""

    directory: Path
    ok: bool
    problems: list[str]
    last_seq: int


def verify_log(path: Path, registry: RecordRegistry | None = None) -> VerifyReport:
    """Check every checksum, the seq chain, versions and (given ``registry``) types.

    A torn tail counts as a problem (``open`` would cut it); the message says so.
    So does a log without any segment: its records were lost.

    Raises:
        WalError: the path is missing or names no log (:func:`resolve_log_dir`).
    """
    directory = resolve_log_dir(path)
    try:
        scan = scan_directory(directory, registry, keep_records=False)
    except (WalVersionError, WalUnknownRecordTypeError) as exc:
        return VerifyReport(directory, ok=False, problems=[str(exc)], last_seq=0)
    problems = [f"{p}: invalid snapshot skipped: {reason}" for p, reason in scan.skipped_snapshots]
    if scan.damage is not None:
        damage = scan.damage
        kind = (
            "torn tail (opening the log cuts it automatically)"
            if damage.at_tail
            else f"corruption (run `{repair_hint(directory)}` to salvage the prefix)"
        )
        problems.append(f"{damage.path}: byte {damage.offset}: {damage.reason}: {kind}")
    missing = _no_segment(directory, scan)
    if missing is not None:
        problems.append(missing)
    return VerifyReport(directory, ok=not problems, problems=problems, last_seq=scan.next_seq - 1)


@dataclass(slots=True)
class RepairReport:
    """What :func:`repair_log` kept and what it moved aside."""

    directory: Path
    last_seq: int = 0
    cut: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was cut."""
        return bool(self.cut)


def repair_log(path: Path) -> RepairReport:
    """Keep the longest valid prefix; move everything after it to ``.broken`` files.

    Takes the directory lock. Records of a newer format are not cut (upgrading
    the software is the fix), so a :class:`WalVersionError` is raised instead.
    A log without any segment has nothing to salvage, and is refused.

    Raises:
        WalError: the path is missing or names no log (:func:`resolve_log_dir`),
            or the log holds no segment.
        WalLockedError: a writer holds the log.
        WalVersionError: data from a newer format.
    """
    directory = resolve_log_dir(path)  # before the lock: never a LOCK where no log is
    if not list_segments(directory):
        raise WalError(
            f"{directory}: holds no segment, so no record to salvage (an opened log always "
            "keeps its newest segment: they were deleted, or moved aside to .broken files)"
        )
    lock = DirectoryLock.acquire(directory)
    try:
        report = RepairReport(directory)
        for leftover in list_temporaries(directory):
            leftover.unlink()
            report.cut.append(f"removed unfinished {leftover.name}")
        while True:
            scan = scan_directory(directory, None, keep_records=False)
            for snapshot, reason in scan.skipped_snapshots:
                report.cut.append(f"moved invalid snapshot {snapshot.name} aside ({reason})")
                snapshot.rename(broken_path_for(snapshot))
            if scan.damage is None:
                report.last_seq = scan.next_seq - 1
                break
            _cut_from(scan, scan.damage, report)
        fsync_dir(directory)
        return report
    finally:
        lock.release()


def _cut_from(scan: ScanResult, damage: Damage, report: RepairReport) -> None:
    paths = [s.path for s in scan.segments]
    later = paths[paths.index(damage.path) + 1 :]
    if damage.offset == 0:
        later.insert(0, damage.path)
    else:
        _cut(damage, report)
    for segment in later:
        broken = broken_path_for(segment)
        segment.rename(broken)
        report.cut.append(f"{segment.name}: moved whole segment aside to {broken.name}")
        _log.warning(
            "wal.repair.segment_moved",
            path=str(segment),
            broken=str(broken),
            reason=damage.reason if segment == damage.path else "after a damaged record",
        )


def _cut(damage: Damage, report: RepairReport) -> None:
    """Move the bytes of ``damage.path`` from ``damage.offset`` on into a ``.broken`` file.

    Said for what it is: a torn tail (a half-written last append, nothing valid
    after it), or a damaged record in the middle of the log, cut with every
    record after it (:func:`~opencode_orchestrator.wal.segment.cut_tail` would
    call both a torn tail).
    """
    broken, cut = move_tail(damage)
    where = f"{damage.path.name}: cut {len(cut)} bytes from byte {damage.offset}"
    if damage.at_tail:
        report.cut.append(f"{where}: a torn tail ({damage.reason}) into {broken.name}")
        _log.warning(
            "wal.repair.torn_tail_cut",
            path=str(damage.path),
            offset=damage.offset,
            cut_bytes=len(cut),
            broken=str(broken),
            reason=damage.reason,
        )
        return
    # The damaged line is not counted: a flipped byte leaves its frame invalid.
    valid = sum(frame_is_valid(line) for line in cut.split(b"\n")[1:])
    report.cut.append(
        f"{where}: a damaged record ({damage.reason}) and the {valid} valid record(s) "
        f"after it in this segment, into {broken.name}"
    )
    _log.warning(
        "wal.repair.damaged_record_cut",
        path=str(damage.path),
        offset=damage.offset,
        cut_bytes=len(cut),
        valid_records_cut=valid,
        broken=str(broken),
        reason=damage.reason,
    )
