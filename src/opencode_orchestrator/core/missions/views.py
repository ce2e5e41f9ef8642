"""How missions look to the shim: status entries, and the list of the other missions.

Missions this core runs are described from their engine's in-memory model;
the others from their WAL on disk, read without the lock
(:func:`~opencode_orchestrator.mission.store.load_mission`), in a worker
thread. States go on the wire in upper case (``PLANNING``, ``SEALED``), unit
states as keys of ``units`` likewise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from opencode_orchestrator.core.errors import MissionNotFoundError, MissionUnreadableError
from opencode_orchestrator.core.missions.wire import MissionEntry
from opencode_orchestrator.mission.errors import MissionNotFoundError as StoreNotFoundError
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import load_mission, missions_root
from opencode_orchestrator.wal.errors import WalError, repair_hint
from opencode_orchestrator.wal.paths import mission_wal_dir

__all__ = [
    "STATUS_LIMIT",
    "entry_of",
    "goal_line",
    "others_text",
    "read_entries",
    "read_entry",
    "wire_state",
]

STATUS_LIMIT: Final = 20
"""``mission/status`` without an id lists at most this many missions, newest first."""


def wire_state(state: MissionState | str) -> str:
    """A state as the wire carries it: ``BUDGET_EXCEEDED``."""
    return str(state).upper()


def goal_line(goal: str, limit: int = 80) -> str:
    """The first line of ``goal``, cut to ``limit`` characters."""
    first = goal.strip().splitlines()[0] if goal.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def entry_of(model: MissionModel, *, running: bool, error: str | None = None) -> MissionEntry:
    """The status entry of a mission from its model."""
    counts = {wire_state(state): n for state, n in sorted(model.counts().items())}
    return MissionEntry(
        mission_id=model.mission_id,
        goal=model.goal,
        state=wire_state(model.state),
        reason=model.reason,
        iteration=model.iteration,
        units=counts,
        started_at=model.created_at,
        ended_at=model.last_ts if model.state.final else None,
        running=running,
        error=error,
        parent_session_id=model.parent_session,
    )


def read_entry(project: Path, mission_id: str) -> tuple[MissionEntry, MissionModel]:
    """One mission of ``project`` from its WAL (blocking I/O: call it in a worker thread).

    Raises:
        MissionNotFoundError: no mission journaled under that id.
        MissionUnreadableError: its WAL is damaged or from a newer version.
    """
    try:
        model = load_mission(project, mission_id)
    except StoreNotFoundError:
        raise MissionNotFoundError(
            f"no mission {mission_id} in {project}", {"missionId": mission_id}
        ) from None
    except WalError as exc:
        directory = mission_wal_dir(project, mission_id)
        raise MissionUnreadableError(
            f"mission {mission_id}: its WAL cannot be read: {exc}",
            {"missionId": mission_id, "walCode": exc.code, "repair": repair_hint(directory)},
        ) from exc
    return entry_of(model, running=False), model


def read_entries(project: Path) -> list[MissionEntry]:
    """Every readable mission of ``project``, newest first (blocking I/O: a worker thread).

    Directories holding no mission, or a WAL that cannot be read, are left
    out: ``mission/status`` with the id names the problem.
    """
    root = missions_root(project)
    if not root.is_dir():
        return []
    found: list[MissionEntry] = []
    for item in os.scandir(root):
        if not item.is_dir():
            continue
        try:
            entry, _model = read_entry(project, item.name)
        except (MissionNotFoundError, MissionUnreadableError, ValueError):
            continue
        found.append(entry)
    found.sort(key=lambda e: (e.started_at, e.mission_id), reverse=True)
    return found


def others_text(entries: list[MissionEntry], *, more: int = 0) -> str:
    """A markdown list of missions, one line each (under the table of the one shown)."""
    lines = ["Other missions:"]
    for entry in entries:
        total = sum(entry.units.values())
        verified = entry.units.get("VERIFIED", 0)
        where = "running here" if entry.running else ("ended" if entry.ended_at else "stopped")
        line = (
            f"- `{entry.mission_id}` {entry.state} · {verified}/{total} units verified · "
            f"iteration {entry.iteration} ({where}) · {goal_line(entry.goal)}"
        )
        if entry.error:
            line += f" · stopped by an error: {goal_line(entry.error, 160)}"
        lines.append(line)
    if more:
        lines.append(f"- … and {more} older mission(s)")
    return "\n".join(lines)
