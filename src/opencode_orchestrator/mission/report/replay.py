"""One pass over a mission's journal into its model (with evidence) and its history.

:func:`~opencode_orchestrator.mission.store.read_journal` reads the WAL and
feeds every record to both folds: the :class:`MissionModel` with
``keep_evidence`` and the :class:`JournalFacts`. Blocking I/O: call it from a
worker thread.
"""

from __future__ import annotations

from pathlib import Path

from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.report.facts import JournalFacts
from opencode_orchestrator.mission.store import read_journal

__all__ = ["replay"]


def replay(wal: Path) -> tuple[MissionModel, JournalFacts]:
    """The model and the history of the mission whose WAL directory is ``wal``.

    Raises:
        MissionNotFoundError: the directory is not there, or holds no mission's journal.
        WalCorruptError: damage before the log's tail.
        WalError: the log holds a snapshot (a mission journal never does), or
            is from a newer version.
    """
    facts = JournalFacts()
    return read_journal(wal, facts.apply, keep_evidence=True), facts
