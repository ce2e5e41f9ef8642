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
anywhere else is corruption and is reported, never skipped: an overview of
the project (:func:`survey_missions`) lists such a mission as unreadable,
with what its readable records still say and the commands that check and
salvage its log.

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
from opencode_orchestrator.wal.errors import WalCorruptError, WalError, repair_hint
from opencode_orchestrator.wal.lock import lock_holder, lock_holders
from opencode_orchestrator.wal.paths import LOCK_NAME, list_segments, mission_wal_dir
from opencode_orchestrator.wal.record import InvalidLineError, decode_line
from opencode_orchestrator.wal.segment import scan_directory

__all__ = [
    "Fold",
    "MissionInfo",
    "MissionSurvey",
    "UnreadableMission",
    "fold_journal",
    "load_mission",
    "mission_dir",
    "mission_journal",
    "missions_root",
    "read_journal",
    "running_elsewhere",
    "survey_missions",
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


@dataclass(frozen=True, slots=True)
class UnreadableMission:
    """A mission of a project whose log cannot be read: damaged, or from a newer format.

    What its readable records (those before the damage) say is kept, so an
    overview can still show which mission it is and whether it looked finished.
    """

    mission_id: str
    journal: Path
    """Its WAL directory (what ``wal verify`` and ``wal repair`` take)."""
    error: str
    """Why it cannot be read (the file and byte offset, when there is one)."""
    code: str
    """The error's code (``wal.corrupt``, ``wal.version``, ``wal``, ``io``)."""
    goal: str = ""
    """As its readable records say ("" when they do not even hold ``mission.created``)."""
    last_state: MissionState | None = None
    """The state its readable records leave it in; ``None`` when they say nothing."""
    created_at: float | None = None
    updated_at: float | None = None
    """When the last readable record was written."""

    @property
    def looks_unfinished(self) -> bool:
        """Whether it may still be one to resume: its readable records end in no final state."""
        return self.last_state is None or not self.last_state.final

    @property
    def commands(self) -> list[str]:
        """The commands to run about it: check the log, and salvage it when that can help."""
        commands = [f"opencode-orchestrator wal verify {self.journal}"]
        if self.code == WalCorruptError.code:
            commands.append(repair_hint(self.journal))
        return commands

    def explain(self) -> list[str]:
        """What to tell a person, a line each: the error, the last readable state, the commands."""
        lines = [f"unreadable: {self.error} [{self.code}]"]
        if self.last_state is not None:
            lines.append(f"last state its readable records show: {self.last_state.value}")
        check, *salvage = self.commands
        lines.append(f"check it:   {check}")
        lines.extend(f"salvage it: {command}" for command in salvage)
        return lines


@dataclass(frozen=True, slots=True)
class MissionSurvey:
    """Every mission of a project: those that read back and those that do not."""

    missions: list[MissionInfo]
    """Readable missions, oldest first."""
    unreadable: list[UnreadableMission]
    """Missions whose log cannot be read, oldest first (those of unknown age last)."""

    def latest_unfinished(self) -> str | None:
        """The id of the most recently created readable mission not in a final state."""
        unfinished = [info for info in self.missions if not info.state.final]
        return unfinished[-1].mission_id if unfinished else None

    @property
    def unreadable_unfinished(self) -> list[UnreadableMission]:
        """The unreadable missions that may be unfinished (see ``looks_unfinished``)."""
        return [m for m in self.unreadable if m.looks_unfinished]

    def unreadable_newer_unfinished(self) -> list[UnreadableMission]:
        """The unreadable missions that may be the newest unfinished one.

        Those that may be unfinished and are not known to be older than
        :meth:`latest_unfinished` (their creation unreadable, or later): while
        there is one, "the newest unfinished mission" cannot be told.
        """
        unfinished = [info for info in self.missions if not info.state.final]
        newest = unfinished[-1].created_at if unfinished else None
        return [
            m
            for m in self.unreadable_unfinished
            if newest is None or m.created_at is None or m.created_at >= newest
        ]


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
        WalError: as :func:`load_mission`; also a log whose every segment is gone
            (a ``LOCK`` file says a log was opened there, and an opened log
            always keeps its newest segment).
    """
    if not directory.is_dir():
        raise MissionNotFoundError(f"{directory}: no mission journal there")
    model = MissionModel(keep_evidence=keep_evidence)
    fold_journal(directory, model.apply, *folds)
    if not model.created:
        if _segments_lost(directory):
            raise WalError(
                f"{directory}: holds no segment: every record of this log is gone "
                "(deleted, or moved aside to .broken files by a repair)"
            )
        raise MissionNotFoundError(f"{directory}: no mission has been recorded there")
    return model


def _segments_lost(directory: Path) -> bool:
    """Whether a log was opened in ``directory`` and its segments are gone since.

    A log being opened right now has its ``LOCK`` before its first segment:
    its lock is held then, so it does not count.
    """
    return (
        not list_segments(directory)
        and (directory / LOCK_NAME).exists()
        and lock_holder(directory) is None
    )


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


def survey_missions(project: Path) -> MissionSurvey:
    """Every mission of ``project``: the readable ones, and those whose log cannot be read.

    Logs that hold no mission (the foundation demo's) are left out. A mission
    whose log is damaged before its tail, is from a newer format, or cannot be
    read at all (permissions, say) is an :class:`UnreadableMission`.
    """
    root = missions_root(project)
    if not root.is_dir():
        return MissionSurvey([], [])
    found: list[MissionInfo] = []
    unreadable: list[UnreadableMission] = []
    for entry in os.scandir(root):
        if not entry.is_dir():
            continue
        try:
            model = load_mission(project, entry.name, keep_evidence=False)
        except MissionNotFoundError:
            continue
        except (WalError, OSError) as exc:
            unreadable.append(_unreadable(project, entry.name, exc))
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
    unreadable.sort(
        key=lambda m: (m.created_at is None, m.created_at or 0.0, m.mission_id),
    )
    return MissionSurvey(found, unreadable)


def _unreadable(project: Path, mission_id: str, exc: WalError | OSError) -> UnreadableMission:
    """Mission ``mission_id``, unreadable for ``exc``, with what its readable records say."""
    journal = mission_wal_dir(project, mission_id)
    if isinstance(exc, WalCorruptError):
        error = f"{exc.path}: byte {exc.offset}: {exc.detail}"
    else:
        error = str(exc) or type(exc).__name__
    code = exc.code if isinstance(exc, WalError) else "io"
    prefix = _readable_prefix(journal)
    if prefix is None:
        return UnreadableMission(mission_id, journal, error, code)
    return UnreadableMission(
        mission_id,
        journal,
        error,
        code,
        goal=prefix.goal,
        last_state=prefix.state,
        created_at=prefix.created_at,
        updated_at=prefix.last_ts,
    )


def _readable_prefix(directory: Path) -> MissionModel | None:
    """The mission as the valid records before its log's damage say, if they name one."""
    model = MissionModel(keep_evidence=False)
    try:
        scan = scan_directory(directory, None, keep_records=False)
        if scan.snapshot is not None:
            return None
        for segment in scan.segments:
            if segment.last_seq is not None:
                _fold(segment.path, segment.last_seq, (model.apply,))
    except (WalError, OSError):
        return None
    return model if model.created else None


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
