"""Stopping a mission: the request to cancel one, and the records a stop leaves.

A running engine is asked to cancel through :meth:`MissionEngine.request_cancel
<opencode_orchestrator.mission.engine.MissionEngine.request_cancel>` when the
asker shares its process (the core's ``mission/cancel``), and through a file
next to its journal when it does not (the ``cancel`` CLI):
:func:`cancel_request_path`. A mission that no process runs is cancelled by
journaling its stop directly: :func:`record_cancel`.
"""

from __future__ import annotations

from pathlib import Path

from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.racing import remove_race_worktrees
from opencode_orchestrator.mission.records import RecordType, TurnStatus
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.wal.paths import mission_wal_dir

__all__ = ["cancel_request_path", "cancel_unfinished_units", "record_cancel"]


async def cancel_unfinished_units(journal: Journal, why: str) -> int:
    """Move every unit that is not final yet to CANCELLED, for ``why``; return how many.

    For a mission being stopped: no unit is left in a working state. The records
    are queued, not waited on: the mission's final state, written next and
    durable, carries them. A crash before it leaves a mission that is not final,
    whose resume stops it again (its cancel request or its spent budget is in
    the journal), with these units already final.
    """
    unfinished = [u.id for u in journal.model.units.values() if not u.state.final]
    for unit in unfinished:
        await journal.write(
            RecordType.UNIT_STATE,
            {"unit": unit, "state": UnitState.CANCELLED.value, "reason": why},
            durable=False,
        )
    return len(unfinished)


async def record_cancel(journal: Journal, reason: str) -> None:
    """Record the mission of ``journal``, which nobody runs, CANCELLED for ``reason``.

    The cancel request first (unless the journal has it), then an end for each
    turn left open (nothing will ever follow it: the caller aborts their sessions
    if it can), its unfinished units, and its final state: what a running engine
    journals when it stops. Then the worktrees of its races are removed, as a
    running engine removes them when it ends.
    """
    model = journal.model
    if not model.cancel_requested:
        await journal.write(RecordType.MISSION_CANCEL, {})
    for turn in model.open_turns():
        await journal.write(
            RecordType.TURN_ENDED,
            {
                "turn": turn.id,
                "status": TurnStatus.ABORTED.value,
                "error": "the mission was cancelled while no process ran it",
            },
            durable=False,
        )
    await cancel_unfinished_units(journal, "the mission was cancelled")
    await journal.write(
        RecordType.MISSION_STATE,
        {"state": MissionState.CANCELLED.value, "reason": reason, "iteration": model.iteration},
    )
    if model.project:
        # Its races' worktrees: nothing will run in them again (never fails the cancel).
        await remove_race_worktrees(Path(model.project), model.units.values())


def cancel_request_path(project: Path, mission_id: str) -> Path:
    """The file whose presence asks a running mission to cancel (``cancel`` CLI)."""
    return mission_wal_dir(project, mission_id).parent / "cancel"
