"""One pass over a mission's journal into its model (with evidence) and its history.

This reads the WAL the way :func:`~opencode_orchestrator.mission.store.read_journal`
does (validated by a scan that changes nothing, then folded a line at a time,
without the writer's lock, a torn tail ignored), but feeds every record to
both folds: the :class:`MissionModel` with ``keep_evidence`` and the
:class:`JournalFacts`. Blocking I/O: call it from a worker thread.
"""

from __future__ import annotations

from pathlib import Path

from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.report.facts import JournalFacts
from opencode_orchestrator.wal.errors import WalCorruptError, WalError
from opencode_orchestrator.wal.record import InvalidLineError, decode_line
from opencode_orchestrator.wal.segment import scan_directory

__all__ = ["replay"]


def replay(wal: Path) -> tuple[MissionModel, JournalFacts]:
    """The model and the history of the mission whose WAL directory is ``wal``.

    Raises:
        MissionNotFoundError: the directory holds no mission's journal.
        WalCorruptError: damage before the log's tail.
        WalError: the log holds a snapshot (a mission journal never does), or
            is from a newer version.
    """
    if not wal.is_dir():
        raise MissionNotFoundError(f"{wal}: no mission journal there")
    scan = scan_directory(wal, None, keep_records=False)
    if scan.damage is not None and not scan.damage.at_tail:
        damage = scan.damage
        raise WalCorruptError(damage.path, damage.offset, damage.reason)
    if scan.snapshot is not None:
        raise WalError(f"{wal}: holds a snapshot; a mission journal never does")
    model, facts = MissionModel(keep_evidence=True), JournalFacts()
    for segment in scan.segments:
        if segment.last_seq is not None:
            _fold(segment.path, segment.last_seq, model, facts)
    if not model.created:
        raise MissionNotFoundError(f"{wal}: no mission has been recorded there")
    return model, facts


def _fold(path: Path, last_seq: int, model: MissionModel, facts: JournalFacts) -> None:
    with path.open("rb") as lines:
        offset = 0
        for line in lines:
            try:
                record = decode_line(line.removesuffix(b"\n"))
            except InvalidLineError as exc:  # changed since the scan (a repair, say)
                raise WalCorruptError(path, offset, str(exc)) from None
            model.apply(record.type, record.data, record.ts)
            facts.apply(record.type, record.data, record.ts)
            if record.seq >= last_seq:
                return
            offset += len(line)
