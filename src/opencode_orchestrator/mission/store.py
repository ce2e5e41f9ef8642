"""The missions of a project, read from their WALs without taking any lock.

A running mission holds its WAL's writer lock for as long as it runs, yet
``status`` must still answer, so everything here only *reads*: the segments
are scanned with :func:`~opencode_orchestrator.wal.segment.scan_directory`
(which changes nothing) and the records are folded through
:meth:`MissionModel.apply`, exactly as :class:`~opencode_orchestrator.mission.journal.Journal`
replays them. The scan only validates; the fold then reads the validated
records one line at a time, so memory holds the model, never the whole log
(a long mission's log is tens of MB, its decoded records several times that).
A half-written last line (the writer mid-append, or a crash) is a torn tail:
the records before it are the mission as far as its log knows. Damage
anywhere else is corruption and is reported, never skipped.

The model keeps every finished unit's evidence (``keep_evidence``), which the
engine's own model lets go: this is where reports get it from.

Layout (under the project)::

    .opencode/orchestrator/missions/<id>/wal/       the journal
    .opencode/orchestrator/missions/<id>/report.*   written when a run ends
    .opencode/orchestrator/missions/<id>/cancel     a cancel request (``cancel`` CLI)

Every function does blocking I/O: call it from a worker thread in async code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.wal.errors import WalCorruptError, WalError
from opencode_orchestrator.wal.lock import lock_holders
from opencode_orchestrator.wal.paths import mission_wal_dir
from opencode_orchestrator.wal.record import InvalidLineError, decode_line
from opencode_orchestrator.wal.segment import scan_directory

__all__ = [
    "Fold",
    "MissionInfo",
    "fold_journal",
    "latest_unfinished",
    "list_missions",
    "load_mission",
    "mission_dir",
    "mission_journal",
    "missions_root",
    "read_journal",
    "running_elsewhere",
]

Fold = Callable[[str, dict[str, Any], float], None]
"""Takes one record: its type, its data and its time (``MissionModel.apply``'s shape)."""


@dataclass(frozen=True, slots=True)
class MissionInfo:
    """One mission of a project, as its log describes it."""

    mission_id: str
    state: MissionState
    goal: str
    created_at: float
    updated_at: float
    """When the last record was written (seconds since the epoch)."""
    units: int
    """The plan's units (:meth:`MissionModel.planned_units`: racing strategies not counted)."""
    verified: int
    """How many of those are verified."""


def missions_root(project: Path) -> Path:
    """``<project>/.opencode/orchestrator/missions``."""
    return project / ".opencode" / "orchestrator" / "missions"


def mission_dir(project: Path, mission_id: str) -> Path:
    """The directory of one mission: its WAL, report and cancel request live here.

    Raises:
        ValueError: ``mission_id`` is not a valid mission id.
    """
    return mission_wal_dir(project, mission_id).parent


def mission_journal(directory: Path) -> Path:
    """The WAL of the mission whose directory (:func:`mission_dir`) is ``directory``."""
    return directory / "wal"


def load_mission(project: Path, mission_id: str, *, keep_evidence: bool = True) -> MissionModel:
    """Rebuild a mission's state from its WAL, read-only and without the lock.

    ``keep_evidence``: keep finished units' sessions, verdicts, checks and usage
    (what reports show); without it the model is the engine's, and smaller.

    Raises:
        MissionNotFoundError: no journal of a mission under that id.
        WalCorruptError: damage before the log's tail (``wal repair`` salvages it).
        WalVersionError: the log was written by a newer version.
        WalError: the log holds a snapshot (mission journals are never snapshotted,
            so one means the log is not a mission's).
    """
    try:
        directory = mission_wal_dir(project, mission_id)
    except ValueError as exc:
        raise MissionNotFoundError(str(exc)) from None
    if not directory.is_dir():
        raise MissionNotFoundError(f"no mission {mission_id!r} in {project}")
    return read_journal(directory, keep_evidence=keep_evidence)


def read_journal(directory: Path, *folds: Fold, keep_evidence: bool = True) -> MissionModel:
    """Rebuild the mission whose WAL is ``directory``, as :func:`load_mission` does.

    ``folds`` see every record too, each right after the model (as
    :func:`fold_journal` feeds them): a report folds the history the model
    does not keep in the same pass.

    Raises:
        MissionNotFoundError: the directory is not there, or holds no mission's journal.
        WalError: as :func:`load_mission`.
    """
    if not directory.is_dir():
        raise MissionNotFoundError(f"{directory}: no mission journal there")
    model = MissionModel(keep_evidence=keep_evidence)
    fold_journal(directory, model.apply, *folds)
    if not model.created:
        raise MissionNotFoundError(f"{directory}: no mission has been recorded there")
    return model


def fold_journal(directory: Path, *folds: Fold) -> None:
    """Feed every valid record of the WAL ``directory`` to each of ``folds``, in order.

    The log is validated by a scan that changes nothing and takes no lock (a
    mission another process runs can be read), then read one line at a time;
    a torn tail is ignored. Blocking I/O: call it from a worker thread.

    Raises:
        WalCorruptError: damage before the log's tail.
        WalVersionError: the log was written by a newer version.
        WalError: the log holds a snapshot (a mission journal never does).
    """
    # No registry: the model ignores record types it does not know, and a
    # status query must not fail on a type a newer engine added.
    scan = scan_directory(directory, None, keep_records=False)
    if scan.damage is not None and not scan.damage.at_tail:
        damage = scan.damage
        raise WalCorruptError(damage.path, damage.offset, damage.reason)
    if scan.snapshot is not None:
        raise WalError(f"{directory}: holds a snapshot; a mission journal never does")
    for segment in scan.segments:
        if segment.last_seq is not None:
            _fold(segment.path, segment.last_seq, folds)


def _fold(path: Path, last_seq: int, folds: tuple[Fold, ...]) -> None:
    """Apply the records of segment ``path`` up to ``last_seq`` (the scan validated them).

    Lines after ``last_seq`` are a torn tail, or were appended after the scan.
    """
    with path.open("rb") as lines:
        offset = 0
        for line in lines:
            try:
                record = decode_line(line.removesuffix(b"\n"))
            except InvalidLineError as exc:  # changed since the scan (a repair, say)
                raise WalCorruptError(path, offset, str(exc)) from None
            for fold in folds:
                fold(record.type, record.data, record.ts)
            if record.seq >= last_seq:
                return
            offset += len(line)


def list_missions(project: Path) -> list[MissionInfo]:
    """Every readable mission of ``project``, oldest first.

    Logs that hold no mission (the foundation demo's) or cannot be read are
    left out: this is an overview, and ``status MISSION`` names the problem.
    """
    root = missions_root(project)
    if not root.is_dir():
        return []
    found: list[MissionInfo] = []
    for entry in os.scandir(root):
        if not entry.is_dir():
            continue
        try:
            model = load_mission(project, entry.name, keep_evidence=False)
        except (MissionNotFoundError, WalError):
            continue
        verified, planned = model.plan_progress()  # as the seal and the report count them
        found.append(
            MissionInfo(
                mission_id=model.mission_id,
                state=model.state,
                goal=model.goal,
                created_at=model.created_at,
                updated_at=model.last_ts,
                units=planned,
                verified=verified,
            )
        )
    found.sort(key=lambda info: (info.created_at, info.mission_id))
    return found


def running_elsewhere(project: Path) -> list[tuple[str, int]]:
    """``(mission id, pid)`` of each mission of ``project`` another process has open now.

    Missions of this process share file scopes (:mod:`~opencode_orchestrator.mission.leases`);
    those of another process do not, hence the question. Read from the logs'
    locks without taking them (:func:`~opencode_orchestrator.wal.lock.lock_holder`;
    Linux only, elsewhere the answer is empty). Blocking I/O.
    """
    root = missions_root(project)
    if not root.is_dir():
        return []
    me = os.getpid()
    names = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    held = lock_holders(mission_wal_dir(project, name) for name in names)
    return [
        (name, pid)
        for name in names
        if (pid := held.get(mission_wal_dir(project, name))) is not None and pid != me
    ]


def latest_unfinished(project: Path) -> str | None:
    """The id of the most recently created mission not in a final state, if any."""
    unfinished = [info for info in list_missions(project) if not info.state.final]
    return unfinished[-1].mission_id if unfinished else None
