"""What ``mission/status``, ``mission/cancel`` and ``mission/resume`` do, over the registry.

Cancel, the orderly way:

* a mission **this core runs** is asked to stop (``MissionEngine.request_cancel``):
  its busy sessions are aborted and it ends CANCELLED; the answer waits for
  that, at most :data:`CANCEL_WAIT` seconds (past it, the answer says the
  cancel is under way, and a ``mission/progress`` notification follows);
* a mission **another process runs** (it holds the WAL's lock) gets the
  cancel request file next to its WAL, which that process polls, as the
  ``cancel`` command does;
* a mission **nobody runs** is recorded CANCELLED in its own journal (the
  sessions of its open turns are aborted first when OpenCode is known), so
  that no later core resumes it, and its report is written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final

import anyio

from opencode_orchestrator.core.errors import (
    AmbiguousMissionError,
    CoreError,
    MissionEndedError,
    MissionLockedError,
    MissionNotFoundError,
    MissionNotRunningError,
    MissionUnreadableError,
)
from opencode_orchestrator.core.missions.registry import MissionRegistry
from opencode_orchestrator.core.missions.running import report_if_missing, write_mission_report
from opencode_orchestrator.core.missions.table import mission_table
from opencode_orchestrator.core.missions.views import (
    STATUS_LIMIT,
    entry_of,
    others_text,
    read_entries,
    read_entry,
    wire_state,
)
from opencode_orchestrator.core.missions.wire import (
    MissionActionResult,
    MissionEntry,
    ProgressParams,
    StatusResult,
)
from opencode_orchestrator.jsonrpc import RpcError
from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.cancelling import cancel_request_path, record_cancel
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import UnreadableMission, survey_missions
from opencode_orchestrator.opencode.errors import OpenCodeError
from opencode_orchestrator.wal.errors import WalError, WalLockedError
from opencode_orchestrator.wal.paths import fsync_dir, mission_wal_dir, write_private_file

__all__ = ["CANCEL_WAIT", "auto_resume", "cancel", "resume", "status"]

CANCEL_WAIT: Final = 10.0
"""Seconds ``mission/cancel`` waits for a running mission to end CANCELLED."""
ABORT_WAIT: Final = 5.0
"""Seconds spent aborting the open sessions of a mission nobody runs."""

_log = get_logger(__name__)


async def status(
    registry: MissionRegistry,
    project: Path,
    mission_id: str | None,
    session_id: str | None = None,
) -> StatusResult:
    """One mission's table, or, without an id, the directory's missions.

    Without an id: the table of the newest mission started from ``session_id``
    (else of the newest mission), then a line per other mission (the newest
    :data:`STATUS_LIMIT` of ``project``).
    """
    if mission_id is not None:
        mission = registry.running(mission_id)
        model: MissionModel | None = None
        if mission is not None and mission.model is not None:
            entry = entry_of(mission.model, running=True)
        else:
            entry, model = await anyio.to_thread.run_sync(read_entry, project, mission_id)
            entry.error = registry.error_of(mission_id)
        text = await _table(registry, project, entry, model)
        return StatusResult(missions=[entry], text=text, mission_id=mission_id)
    entries = await anyio.to_thread.run_sync(read_entries, project)
    for index, entry in enumerate(entries):
        mission = registry.running(entry.mission_id)
        if mission is not None and mission.model is not None:
            entries[index] = entry_of(mission.model, running=True)
        else:
            entry.error = registry.error_of(entry.mission_id)
    if not entries:
        return StatusResult(missions=[], text=f"No missions in {project}.")
    shown = entries[:STATUS_LIMIT]
    own = [e for e in entries if session_id is not None and e.parent_session_id == session_id]
    focus = own[0] if own else entries[0]
    if focus not in shown:  # older than the newest STATUS_LIMIT: its table is shown all the same
        shown.append(focus)
    more = len(entries) - len(shown)
    text = await _table(registry, project, focus)
    others = [e for e in shown if e.mission_id != focus.mission_id]
    if others or more:
        text += "\n\n" + others_text(others, more=more)
    return StatusResult(missions=shown, text=text, mission_id=focus.mission_id)


async def _table(
    registry: MissionRegistry,
    project: Path,
    entry: MissionEntry,
    model: MissionModel | None = None,
) -> str:
    """The markdown table of ``entry``'s mission: from memory if it runs here, else its WAL.

    ``model``: the mission as its WAL was just read (not read again).
    """
    mission = registry.running(entry.mission_id)
    shown: MissionModel
    if mission is not None and mission.model is not None and mission.engine is not None:
        shown = mission.model
        ledger = registry.progress.ledger(entry.mission_id)
        if ledger is not None and ledger.missing():
            # Units that ended before this core resumed the mission: their figures are
            # in the journal only (the engine's model let them go). Read once.
            try:
                _entry, evidence = await anyio.to_thread.run_sync(
                    read_entry, project, entry.mission_id
                )
            except CoreError as exc:  # the table still shows what memory holds
                _log.warning(
                    "mission.status.figures_unread", mission=entry.mission_id, error=str(exc)
                )
            else:
                ledger.seed(evidence)
        wall = mission.engine.ctx.budget.elapsed()
        running = True
    else:
        if model is not None:
            shown = model
        else:  # read_entries keeps no models (a directory may hold many missions)
            _entry, shown = await anyio.to_thread.run_sync(read_entry, project, entry.mission_id)
        ledger = None
        wall = max(0.0, shown.last_ts - shown.created_at)
        running = False
    return mission_table(
        shown, ledger=ledger, now=time.time(), wall_seconds=wall, running=running, error=entry.error
    )


async def resume(
    registry: MissionRegistry, project: Path, mission_id: str | None
) -> MissionActionResult:
    """Resume ``mission_id`` (default: the newest unfinished mission of ``project``)."""
    if mission_id is None:
        survey = await anyio.to_thread.run_sync(survey_missions, project)
        newer = survey.unreadable_newer_unfinished()
        if newer:
            # It may be the one meant: resuming an older mission instead would surprise.
            raise MissionNotFoundError(
                "the newest unfinished mission may be one whose log cannot be read: "
                + "; ".join(_unreadable_line(m) for m in newer)
                + ". Name the mission to resume, or repair its log first."
            )
        mission_id = survey.latest_unfinished()
        if mission_id is None:
            raise MissionNotFoundError(f"no unfinished mission in {project} to resume")
    try:
        mission, already = await registry.resume(project, mission_id)
    except MissionEndedError:
        await report_if_missing(project, mission_id)  # ended before its report was written
        raise
    state = wire_state(mission.state) if mission.state is not None else "UNKNOWN"
    if already:
        message = f"Mission {mission_id} is already running here ({state}); nothing to do."
    else:
        message = f"Mission {mission_id} resumed ({state})."
    return MissionActionResult(mission_id=mission_id, state=state, message=message)


async def cancel(
    registry: MissionRegistry, project: Path, mission_id: str | None
) -> MissionActionResult:
    """Cancel ``mission_id`` (default: the one mission of ``project`` this core runs)."""
    if mission_id is None:
        running = registry.running_in(project)
        if not running:
            raise MissionNotRunningError(f"no mission is running in {project}: nothing to cancel")
        if len(running) > 1:
            ids = [m.mission_id for m in running]
            raise AmbiguousMissionError(
                f"{len(ids)} missions are running: {', '.join(ids)}; say which one to cancel",
                {"missionIds": ids},
            )
        mission_id = running[0].mission_id
    mission = registry.running(mission_id)
    if mission is None or mission.engine is None:
        return await _cancel_elsewhere(registry, project, mission_id)
    mission.engine.request_cancel()
    with anyio.move_on_after(CANCEL_WAIT):
        await mission.done.wait()
    state = mission.state
    if state is MissionState.CANCELLED:
        message = f"Mission {mission_id} cancelled."
    elif state is not None and state.final:
        message = f"Mission {mission_id} ended {wire_state(state)} before the cancel took effect."
    else:
        message = f"Mission {mission_id} is being cancelled: its busy sessions are being aborted."
    return MissionActionResult(
        mission_id=mission_id,
        state=wire_state(state) if state is not None else "UNKNOWN",
        message=message,
    )


async def _cancel_elsewhere(
    registry: MissionRegistry, project: Path, mission_id: str
) -> MissionActionResult:
    entry, model = await anyio.to_thread.run_sync(read_entry, project, mission_id)
    if model.state.final:
        raise MissionNotRunningError(
            f"mission {mission_id} already ended {entry.state}: nothing to cancel",
            {"missionId": mission_id, "state": entry.state},
        )
    # The request first, as the `cancel` command does: a process that takes the
    # mission up from here on still sees it.
    await anyio.to_thread.run_sync(_write_cancel_request, project, mission_id)
    try:
        journal = await Journal.open(mission_wal_dir(project, mission_id))
    except WalLockedError as exc:
        holder = f"process {exc.holder_pid}" if exc.holder_pid is not None else "another process"
        return MissionActionResult(
            mission_id=mission_id,
            state=entry.state,
            message=f"Cancel requested: mission {mission_id} runs in {holder}, which sees the "
            "request within a second, aborts its sessions and ends it CANCELLED.",
        )
    except WalError as exc:
        raise MissionUnreadableError(
            f"mission {mission_id}: its WAL cannot be opened: {exc}",
            {"missionId": mission_id, "walCode": exc.code},
        ) from exc
    try:
        return await _record_cancel(registry, project, journal)
    finally:
        await journal.close()


async def _record_cancel(
    registry: MissionRegistry, project: Path, journal: Journal
) -> MissionActionResult:
    model = journal.model
    mid = model.mission_id
    if model.state.final:  # it ended between our read and our open
        raise MissionNotRunningError(
            f"mission {mid} already ended {wire_state(model.state)}: nothing to cancel",
            {"missionId": mid, "state": wire_state(model.state)},
        )
    sessions = sorted({turn.session for turn in model.turns.values()})
    aborted = await _abort(registry, project, sessions) if sessions else 0
    await record_cancel(journal, "cancelled on request (no process was running it)")
    _log.info("mission.cancelled.idle", mission=mid, sessions=len(sessions), aborted=aborted)
    await write_mission_report(project, mid)  # as the `cancel` command does
    message = f"Mission {mid} was not running: recorded it CANCELLED."
    if sessions:
        message += f" Aborted {aborted} of its {len(sessions)} open session(s)."
    return MissionActionResult(mission_id=mid, state=wire_state(model.state), message=message)


async def _abort(registry: MissionRegistry, project: Path, sessions: list[str]) -> int:
    if not registry.target.server_url:
        return 0
    aborted = 0
    client = registry.client(project)
    with anyio.move_on_after(ABORT_WAIT):
        for session in sessions:
            try:
                aborted += bool(await client.abort(session))
            except OpenCodeError as exc:
                _log.warning("mission.abort_failed", session=session, error=str(exc))
    return aborted


def _write_cancel_request(project: Path, mission_id: str) -> None:
    request = cancel_request_path(project, mission_id)
    write_private_file(request, b"", exclusive=False)
    fsync_dir(request.parent)


async def auto_resume(registry: MissionRegistry, project: Path) -> None:
    """Resume every unfinished mission of ``project`` no other process holds.

    Then write the report of each ended mission that has none (the core that ran
    it stopped between its end and its report). Runs as a task of the missions'
    group (on ``initialized``): whatever goes wrong is logged here.
    """
    try:
        await _auto_resume(registry, project)
    except Exception:  # noqa: BLE001 - a background task must never stop the core
        _log.exception("missions.auto_resume.failed", project=str(project))


async def _auto_resume(registry: MissionRegistry, project: Path) -> None:
    try:
        survey = await anyio.to_thread.run_sync(survey_missions, project)
    except OSError as exc:
        _log.warning("missions.auto_resume.unreadable", project=str(project), error=str(exc))
        return
    infos = survey.missions
    for bad in survey.unreadable_unfinished:
        # Not resumed, and not silently: the user may be waiting for it to carry on.
        _log.warning("missions.auto_resume.damaged", mission=bad.mission_id, error=bad.error)
        registry.progress.emit(
            ProgressParams(
                mission_id=bad.mission_id,
                state=wire_state(bad.last_state) if bad.last_state is not None else "UNKNOWN",
                text=f"Mission {bad.mission_id} could not be resumed: {_unreadable_line(bad)}",
                level="warning",
            )
        )
    for info in infos:
        if info.state.final or registry.reserved(info.mission_id):
            continue
        try:
            _mission, _already = await registry.resume(project, info.mission_id)
        except MissionLockedError as exc:
            _log.info("missions.auto_resume.locked", mission=info.mission_id, error=str(exc))
        except RpcError:
            return  # shutting down
        except CoreError as exc:
            _log.warning("missions.auto_resume.failed", mission=info.mission_id, error=str(exc))
            registry.progress.emit(
                ProgressParams(
                    mission_id=info.mission_id,
                    state=wire_state(info.state),
                    text=f"Mission {info.mission_id} could not be resumed: {exc}",
                    level="warning",
                )
            )
        else:
            _log.info("missions.auto_resumed", mission=info.mission_id)
    for info in infos:
        if info.state.final and not registry.reserved(info.mission_id):
            await report_if_missing(project, info.mission_id)


def _unreadable_line(mission: UnreadableMission) -> str:
    """One line for a person: which mission, why its log cannot be read, what to run."""
    return (
        f"mission {mission.mission_id}'s log cannot be read ({mission.error} [{mission.code}]); "
        + " then ".join(f"`{command}`" for command in mission.commands)
    )
