"""Mission journals with the history a report shows: every turn, review round and check.

Built record by record through :meth:`Journal.write` (as :mod:`tests.mission.journals`),
so the model checks each transition the engine's would.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.records import RecordType
from tests.mission import journals

_R = RecordType
_ids = itertools.count(1)


async def turn(
    journal: Journal,
    kind: str,
    *,
    unit: str | None,
    session: str,
    attempt: int = 1,
    status: str = "completed",
    tokens: int = 0,
    cost: float = 0.0,
    answer: dict[str, Any] | None = None,
    end: bool = True,
) -> str:
    """A turn's intent, and (``end``) its end with usage and answer; returns its id."""
    turn_id = f"t{next(_ids)}"
    await journal.write(
        _R.TURN_INTENT,
        {
            "turn": turn_id,
            "session": session,
            "message": f"msg_{turn_id}",
            "kind": kind,
            "unit": unit,
            "attempt": attempt,
        },
    )
    if end:
        await journal.write(
            _R.TURN_ENDED,
            {
                "turn": turn_id,
                "status": status,
                "tokens": tokens,
                "cost": cost,
                "answer": answer,
                "error": None if status == "completed" else f"turn {status}",
            },
        )
    return turn_id


async def unit_state(journal: Journal, unit: str, state: str, **fields: Any) -> None:
    await journal.write(_R.UNIT_STATE, {"unit": unit, "state": state, **fields})


async def check(
    journal: Journal, unit: str | None, command: str, exit_code: int, output: str = ""
) -> None:
    await journal.write(
        _R.CHECK_RESULT,
        {
            "unit": unit,
            "command": command,
            "exit_code": exit_code,
            "output_tail": output,
            "duration": 0.5,
        },
    )


async def verdict(
    journal: Journal,
    unit: str | None,
    result: str,
    findings: list[dict[str, Any]] | None = None,
    *,
    shadow: bool = False,
    round: int = 1,
) -> None:
    body = {"verdict": result, "findings": findings or [], "learnings": []}
    data: dict[str, Any] = {"unit": unit, "shadow": shadow, "round": round, "verdict": body}
    if unit is None:
        data["fingerprint"] = f"fp{round}"
    await journal.write(_R.REVIEW_VERDICT, data)


def report(unit: str, *files: str) -> dict[str, Any]:
    return {"outcome": "done", "summary": f"{unit} done", "files_changed": list(files)}


async def session(
    journal: Journal, name: str, role: str, unit: str | None, attempt: int = 1
) -> None:
    await journal.write(
        _R.SESSION_CREATED, {"session": name, "role": role, "unit": unit, "attempt": attempt}
    )


async def reviewed_mission(
    project: Path,
    mission_id: str,
    *,
    goal: str = "review everything",
    title: str | None = None,
    finding: str = "u1: a name is wrong",
    file_name: str = "src/u1.py",
    budget: dict[str, Any] | None = None,
) -> None:
    """Planner, two units and the master review, sealed.

    u1: worker (files), shadow review, review *fail* (a finding), fix turn, review pass.
    u2: attempt 1 errors, attempt 2 works, its check fails once then passes.
    The mission check passes; the master review passes.
    """
    journal = await journals.open_journal(project, mission_id)
    try:
        config = MissionConfig().model_dump(mode="json")
        if budget:
            config["budget"] |= budget
        await journal.write(
            _R.MISSION_CREATED,
            {
                "mission_id": mission_id,
                "goal": goal,
                "project": str(project),
                "parent_session": None,
                "config": config,
                "created_at": journal.now(),
            },
        )
        await session(journal, "ses_plan", "planner", None)
        await turn(journal, "plan", unit=None, session="ses_plan", tokens=300, cost=0.003)
        specs = [
            {"id": "u1", "title": title or "unit u1", "files": [file_name]},
            {"id": "u2", "title": "unit u2", "files": ["src/u2.py"]},
        ]
        await journal.write(
            _R.PLAN_ACCEPTED,
            {"iteration": 1, "summary": "two units", "units": specs, "checks": ["make test"]},
        )
        await journal.write(_R.MISSION_STATE, {"state": "running", "reason": "plan accepted"})

        # u1: fails its first review, fixed in the same session.
        await unit_state(journal, "u1", "ready")
        await unit_state(journal, "u1", "dispatched", attempt=1)
        await session(journal, "ses_u1_w", "worker", "u1")
        await session(journal, "ses_u1_r", "reviewer", "u1")
        await turn(journal, "shadow_review", unit="u1", session="ses_u1_r", tokens=50, cost=0.0005)
        await verdict(journal, "u1", "pass", shadow=True)
        await turn(
            journal,
            "work",
            unit="u1",
            session="ses_u1_w",
            tokens=1000,
            cost=0.01,
            answer=report("u1", file_name),
        )
        await unit_state(journal, "u1", "accepted")
        await unit_state(journal, "u1", "reported")
        await check(journal, "u1", "pytest tests/u1", 0)
        await unit_state(journal, "u1", "reviewing")
        await turn(journal, "review", unit="u1", session="ses_u1_r", tokens=200, cost=0.002)
        await verdict(journal, "u1", "fail", [{"severity": "major", "message": finding}])
        await unit_state(journal, "u1", "running", next_turn="fix")
        await turn(
            journal,
            "fix",
            unit="u1",
            session="ses_u1_w",
            tokens=400,
            cost=0.004,
            answer=report("u1", file_name, "src/u1_extra.py"),
        )
        await unit_state(journal, "u1", "reported")
        await unit_state(journal, "u1", "reviewing")
        await turn(journal, "review", unit="u1", session="ses_u1_r", tokens=150, cost=0.0015)
        await verdict(journal, "u1", "pass", round=2)
        await unit_state(journal, "u1", "verified", reason="passed")

        # u2: the first attempt errors; the second works after a failed check.
        await unit_state(journal, "u2", "ready")
        await unit_state(journal, "u2", "dispatched", attempt=1)
        await session(journal, "ses_u2_w1", "worker", "u2")
        await turn(journal, "work", unit="u2", session="ses_u2_w1", status="error", tokens=10)
        await unit_state(journal, "u2", "ready", reason="worker failed")
        await unit_state(journal, "u2", "dispatched", attempt=2)
        await session(journal, "ses_u2_w2", "worker", "u2", attempt=2)
        await turn(
            journal,
            "work",
            unit="u2",
            session="ses_u2_w2",
            attempt=2,
            tokens=700,
            cost=0.007,
            answer=report("u2", "src/u2.py"),
        )
        await unit_state(journal, "u2", "accepted")
        await unit_state(journal, "u2", "reported")
        await check(journal, "u2", "pytest tests/u2", 1, "E   assert 1 == 2")
        await check(journal, "u2", "pytest tests/u2", 0)
        await unit_state(journal, "u2", "reviewing")
        await session(journal, "ses_u2_r", "reviewer", "u2", attempt=2)
        await turn(
            journal, "review", unit="u2", session="ses_u2_r", attempt=2, tokens=100, cost=0.001
        )
        await verdict(journal, "u2", "pass")
        await unit_state(journal, "u2", "verified", reason="passed")

        await journal.write(_R.MISSION_STATE, {"state": "barrier", "reason": "all final"})
        await journal.write(_R.MISSION_STATE, {"state": "integration_review", "reason": "held"})
        await check(journal, None, "make test", 0)
        await session(journal, "ses_master", "master", None)
        await turn(journal, "master_review", unit=None, session="ses_master", tokens=90, cost=0.09)
        await verdict(journal, None, "pass")
        await journal.write(_R.MISSION_SEALED, {"evidence": {"all_units_verified": True}})
        await journal.write(_R.MISSION_STATE, {"state": "sealed", "reason": "every seal condition"})
    finally:
        await journal.close()


async def raced_mission(project: Path, mission_id: str) -> None:
    """u1 raced by two strategies (u1.r2 wins, u1.r1 is cancelled), u2 plain; sealed."""
    journal = await journals.open_journal(project, mission_id)
    try:
        await journals.create(journal, mission_id, project, created_at=journal.now())
        specs = [{"id": "u1", "title": "raced", "race": 2}, {"id": "u2", "title": "plain"}]
        await journal.write(_R.PLAN_ACCEPTED, {"iteration": 1, "summary": "race", "units": specs})
        await journal.write(_R.MISSION_STATE, {"state": "running", "reason": "plan accepted"})
        await unit_state(journal, "u1", "ready")
        strategies = [{"id": f"u1.r{n}", "title": f"raced, approach {n}"} for n in (1, 2)]
        await journal.write(
            _R.PLAN_ACCEPTED,
            {
                "iteration": 1,
                "parent_unit": "u1",
                "units": strategies,
                "race": True,
                "directories": {"u1.r1": "/wt/r1", "u1.r2": "/wt/r2"},
            },
        )
        await unit_state(journal, "u1", "delegated")
        for n in (1, 2):
            await unit_state(journal, f"u1.r{n}", "ready")
            await unit_state(journal, f"u1.r{n}", "dispatched", attempt=1)
            await session(journal, f"ses_r{n}", "worker", f"u1.r{n}")
        await turn(journal, "work", unit="u1.r2", session="ses_r2", answer=report("u1.r2"))
        await unit_state(journal, "u1.r2", "accepted")
        await unit_state(journal, "u1.r2", "reported")
        await unit_state(journal, "u1.r2", "reviewing")
        await verdict(journal, "u1.r2", "pass")
        await unit_state(journal, "u1.r2", "verified", reason="passed")
        await unit_state(journal, "u1.r1", "cancelled", reason="u1.r2 won")
        await journal.write(_R.RACE_WON, {"unit": "u1", "attempt": 2, "directory": "/wt/r2"})
        await unit_state(journal, "u1", "verified", reason="race won by u1.r2")
        await unit_state(journal, "u2", "ready")
        await unit_state(journal, "u2", "dispatched", attempt=1)
        await session(journal, "ses_u2", "worker", "u2")
        await turn(journal, "work", unit="u2", session="ses_u2", answer=report("u2"))
        await unit_state(journal, "u2", "accepted")
        await unit_state(journal, "u2", "reported")
        await unit_state(journal, "u2", "reviewing")
        await verdict(journal, "u2", "pass")
        await unit_state(journal, "u2", "verified", reason="passed")
        await journals.seal(journal)
    finally:
        await journal.close()
