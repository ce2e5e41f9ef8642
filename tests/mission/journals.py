"""Mission journals written record by record, for the store, report and CLI tests.

Everything goes through :meth:`Journal.write`, so the model checks each
transition as the engine's would be checked: a helper that drifted from the
state machines would fail here, not produce a log the engine never could.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.wal.log import Durability
from opencode_orchestrator.wal.paths import mission_wal_dir

_R = RecordType


async def open_journal(project: Path, mission_id: str) -> Journal:
    return await Journal.open(mission_wal_dir(project, mission_id), durability=Durability.NONE)


async def create(journal: Journal, mission_id: str, project: Path, **fields: Any) -> None:
    data = {
        "mission_id": mission_id,
        "goal": fields.get("goal", f"goal of {mission_id}"),
        "project": str(project),
        "parent_session": None,
        "config": MissionConfig().model_dump(mode="json"),
        "created_at": fields.get("created_at", 1_700_000_000.0),
    }
    await journal.write(_R.MISSION_CREATED, data)


async def plan(journal: Journal, units: list[str]) -> None:
    specs = [{"id": u, "title": f"unit {u}", "files": [f"{u}.txt"]} for u in units]
    await journal.write(_R.PLAN_ACCEPTED, {"iteration": 1, "summary": "a plan", "units": specs})
    await journal.write(_R.MISSION_STATE, {"state": "running", "reason": "plan accepted"})


async def start_unit(journal: Journal, unit: str, *, attempt: int = 1) -> str:
    """READY, DISPATCHED, its worker session, and a work turn left open; returns the session."""
    if journal.model.units[unit].state.value == "pending":
        await journal.write(_R.UNIT_STATE, {"unit": unit, "state": "ready"})
    await journal.write(_R.UNIT_STATE, {"unit": unit, "state": "dispatched", "attempt": attempt})
    session = f"ses_{unit}_{attempt}"
    await journal.write(
        _R.SESSION_CREATED, {"session": session, "role": "worker", "unit": unit, "attempt": attempt}
    )
    await journal.write(
        _R.TURN_INTENT,
        {
            "turn": f"t_{unit}_{attempt}",
            "session": session,
            "message": f"msg_{unit}_{attempt}",
            "kind": "work",
            "unit": unit,
            "attempt": attempt,
        },
    )
    return session


async def fail_attempt(journal: Journal, unit: str, reason: str) -> None:
    attempt = journal.model.units[unit].attempt
    await journal.write(
        _R.TURN_ENDED, {"turn": f"t_{unit}_{attempt}", "status": "error", "error": reason}
    )
    await journal.write(_R.UNIT_STATE, {"unit": unit, "state": "ready", "reason": reason})


async def verify_unit(journal: Journal, unit: str, *, tokens: int = 1000, cost: float = 0.01):
    """Accept and end the open work turn with a report, run a check, review it (pass), VERIFIED."""
    attempt = journal.model.units[unit].attempt
    answer = {"outcome": "done", "summary": "did it", "files_changed": [f"{unit}.txt"]}
    turn = f"t_{unit}_{attempt}"
    await journal.write(_R.TURN_ACCEPTED, {"turn": turn, "event": "session.status"})
    await journal.write(_R.UNIT_STATE, {"unit": unit, "state": "accepted"})
    await journal.write(_R.TURN_MESSAGE, {"turn": f"t_{unit}_{attempt}", "message": "msg_a"})
    await journal.write(
        _R.TURN_ENDED,
        {
            "turn": f"t_{unit}_{attempt}",
            "status": "completed",
            "tokens": tokens,
            "cost": cost,
            "answer": answer,
        },
    )
    await journal.write(_R.UNIT_STATE, {"unit": unit, "state": "reported"})
    await journal.write(
        _R.CHECK_RESULT,
        {"unit": unit, "command": "true", "exit_code": 0, "output_tail": "", "duration": 0.01},
    )
    await journal.write(_R.UNIT_STATE, {"unit": unit, "state": "reviewing"})
    verdict = {
        "verdict": "pass",
        "findings": [{"severity": "minor", "message": f"{unit}: naming", "file": None}],
        "learnings": [],
    }
    await journal.write(
        _R.REVIEW_VERDICT, {"unit": unit, "shadow": False, "round": 1, "verdict": verdict}
    )
    await journal.write(_R.UNIT_STATE, {"unit": unit, "state": "verified", "reason": "passed"})


async def seal(journal: Journal) -> None:
    await journal.write(_R.MISSION_STATE, {"state": "barrier", "reason": "all final"})
    await journal.write(_R.MISSION_STATE, {"state": "integration_review", "reason": "held"})
    await journal.write(
        _R.CHECK_RESULT,
        {"unit": None, "command": "pytest -q", "exit_code": 0, "output_tail": "ok", "duration": 1},
    )
    verdict = {"verdict": "pass", "findings": [], "learnings": []}
    await journal.write(
        _R.REVIEW_VERDICT, {"unit": None, "round": 1, "verdict": verdict, "fingerprint": "f"}
    )
    await journal.write(_R.MISSION_SEALED, {"evidence": {"all_units_verified": True}})
    await journal.write(_R.MISSION_STATE, {"state": "sealed", "reason": "every seal condition"})


async def finish(journal: Journal, state: MissionState, reason: str) -> None:
    await journal.write(_R.MISSION_STATE, {"state": state.value, "reason": reason})


async def sealed_mission(project: Path, mission_id: str, **fields: Any) -> None:
    """A whole mission: two units (one needed a second attempt), checks, sealed."""
    journal = await open_journal(project, mission_id)
    try:
        await create(journal, mission_id, project, **fields)
        await plan(journal, ["u1", "u2"])
        await start_unit(journal, "u1")
        await fail_attempt(journal, "u1", "worker gave up")
        await start_unit(journal, "u1", attempt=2)
        await verify_unit(journal, "u1")
        await start_unit(journal, "u2")
        await verify_unit(journal, "u2", tokens=500, cost=0.005)
        await seal(journal)
    finally:
        await journal.close()


async def unfinished_mission(project: Path, mission_id: str, **fields: Any) -> None:
    """A mission cut off mid-run: u1 verified, u2's work turn still open."""
    journal = await open_journal(project, mission_id)
    try:
        await create(journal, mission_id, project, **fields)
        await plan(journal, ["u1", "u2"])
        await start_unit(journal, "u1")
        await verify_unit(journal, "u1")
        await start_unit(journal, "u2")
    finally:
        await journal.close()


async def planning_mission(project: Path, mission_id: str, **fields: Any) -> None:
    """A mission created and nothing else (as after a crash right after it began)."""
    journal = await open_journal(project, mission_id)
    try:
        await create(journal, mission_id, project, **fields)
    finally:
        await journal.close()
