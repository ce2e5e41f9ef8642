"""One pass over a mission's journal into its model (with evidence) and its history.

This reads the WAL as :func:`~opencode_orchestrator.mission.store.read_journal`
does, with :func:`~opencode_orchestrator.mission.store.fold_journal`, feeding
every record to both folds: the :class:`MissionModel` with ``keep_evidence`` and the
:class:`JournalFacts`. Blocking I/O: call it from a worker thread.
"""

from __future__ import annotations

from pathlib import Path

from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.report.facts import JournalFacts
from opencode_orchestrator.mission.store import fold_journal

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
    model, facts = MissionModel(keep_evidence=True), JournalFacts()
    fold_journal(wal, model.apply, facts.apply)
    if not model.created:
        raise MissionNotFoundError(f"{wal}: no mission has been recorded there")
    return model, facts
