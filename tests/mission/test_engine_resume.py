"""Crash and resume on the simulator: the engine is cut at a record, then resumed.

A cut stops the engine the moment a chosen record is in its WAL, as a crash
would (prompts already sent go on in the simulator). The resumed mission
must seal without sending any prompt twice (every turn intent's message id
reaches OpenCode at most once, and is answered at most once) and without
running a verified unit again; and replaying a finished mission's WAL must
rebuild exactly the model the engine ended with.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.wal.log import Durability
from opencode_orchestrator.wal.paths import mission_wal_dir
from tests.mission.enginesupport import (
    Run,
    Sim,
    SimRecord,
    Wal,
    resume_mission,
    run_mission,
    run_until_cut,
    sim_config,
    simulated,
)

pytestmark = pytest.mark.anyio

Cut = Callable[[str, dict[str, Any]], bool]

_MISSION = sim_config(planner={"units": 3, "shape": "chain"}, reviewer={"fail_rate": 0.4}, seed=4)


def _nth(record_type: RecordType, n: int = 1, **match: Any) -> Cut:
    """A cut at the ``n``-th record of ``record_type`` whose data has ``match``'s values."""
    seen = 0

    def cut(kind: str, data: dict[str, Any]) -> bool:
        nonlocal seen
        if kind == record_type and all(data.get(k) == v for k, v in match.items()):
            seen += 1
        return seen == n and kind == record_type

    return cut


def _of_kind(record_type: RecordType, kind: str) -> Cut:
    """A cut at the first ``record_type`` record of a turn of ``kind``."""
    kinds: dict[str, str] = {}

    def cut(record: str, data: dict[str, Any]) -> bool:
        if record == RecordType.TURN_INTENT:
            kinds[data["turn"]] = data["kind"]
        return record == record_type and kinds.get(data["turn"]) == kind

    return cut


_CUTS: dict[str, Callable[[], Cut]] = {
    "plan intent": lambda: _nth(RecordType.TURN_INTENT),
    "plan accepted": lambda: _nth(RecordType.PLAN_ACCEPTED),
    "work intent": lambda: _of_kind(RecordType.TURN_INTENT, "work"),
    "work accepted": lambda: _of_kind(RecordType.TURN_ACCEPTED, "work"),
    "work message": lambda: _of_kind(RecordType.TURN_MESSAGE, "work"),
    "dispatched": lambda: _nth(RecordType.UNIT_STATE, state="dispatched"),
    "second unit ready": lambda: _nth(RecordType.UNIT_STATE, 2, state="ready"),
    "reported": lambda: _nth(RecordType.UNIT_STATE, state="reported"),
    "shadow intent": lambda: _of_kind(RecordType.TURN_INTENT, "shadow_review"),
    "review message": lambda: _of_kind(RecordType.TURN_MESSAGE, "review"),
    "first verdict": lambda: _nth(RecordType.REVIEW_VERDICT),
    "fix intent": lambda: _of_kind(RecordType.TURN_INTENT, "fix"),
    "second unit verified": lambda: _nth(RecordType.UNIT_STATE, 2, state="verified"),
    "barrier": lambda: _nth(RecordType.MISSION_STATE, state="barrier"),
    "integration review": lambda: _nth(RecordType.MISSION_STATE, state="integration_review"),
    "master intent": lambda: _of_kind(RecordType.TURN_INTENT, "master_review"),
    "master verdict": lambda: _nth(RecordType.REVIEW_VERDICT, unit=None),
    "sealed": lambda: _nth(RecordType.MISSION_SEALED),
}


async def _check_no_prompt_twice(sim: Sim, wal: Wal) -> SimRecord:
    """Every prompt the simulator got is a journaled intent, sent once, answered at most once."""
    store = await sim.record()
    intents = {i["message"]: i for i in wal.intents()}
    assert len(intents) == len(wal.intents()), "an intent's message id was reused"
    ended = wal.ended()
    for message, intent in intents.items():
        answers = store.answers(message)
        assert len(answers) <= 1, f"{intent['kind']} turn {message} ran {len(answers)} times"
        if intent["turn"] in ended and ended[intent["turn"]]["status"] == "completed":
            assert len(answers) == 1
    for session in wal.of(RecordType.SESSION_CREATED):
        sent = [m.id for m in store.users(session["session"]) if m.text]
        assert set(sent) <= set(intents), "a prompt was sent outside the journal"
    return store


def _check_verified_units_not_rerun(wal: Wal) -> None:
    for record in wal.of(RecordType.UNIT_STATE, state="verified"):
        unit = record["unit"]
        assert wal.unit_states(unit).count("verified") == 1
        verified = wal.index(RecordType.UNIT_STATE, unit=unit, state="verified")
        later = wal.records[verified + 1 :]
        assert not [
            r for r in later if r.type == RecordType.TURN_INTENT and r.data["unit"] == unit
        ], f"verified unit {unit} was prompted again"


async def _finish(sim: Sim, mission_id: str) -> Run:
    run = await resume_mission(sim, mission_id)
    assert run.state is MissionState.SEALED, run.model.reason
    await _check_no_prompt_twice(sim, run.wal)
    _check_verified_units_not_rerun(run.wal)
    return run


@pytest.mark.parametrize("point", list(_CUTS))
async def test_a_mission_cut_at_any_record_resumes_and_seals(tmp_path: Path, point: str) -> None:
    async with simulated(tmp_path, _MISSION) as sim:
        mission_id, was_cut = await run_until_cut(sim, _CUTS[point]())
        assert was_cut, f"the mission never reached the cut point {point!r}"
        await _finish(sim, mission_id)


@pytest.mark.parametrize("point", ["master verdict", "sealed"])
async def test_a_journaled_master_verdict_is_not_asked_again_on_resume(
    tmp_path: Path, point: str
) -> None:
    # Seen in the SIGKILL campaign: killed between the seal's record and the final
    # state, the resumed mission reviewed the whole change again (a second prompt).
    async with simulated(tmp_path, _MISSION) as sim:
        mission_id, was_cut = await run_until_cut(sim, _CUTS[point]())
        assert was_cut
        run = await _finish(sim, mission_id)
    assert len(run.wal.intents(kind="master_review")) == 1
    assert len(run.wal.of(RecordType.REVIEW_VERDICT, unit=None)) == 1
    assert len(run.wal.of(RecordType.MISSION_SEALED)) == 1


async def test_a_mission_cut_again_and_again_still_seals(tmp_path: Path) -> None:
    points = ["work accepted", "reported", "review message", "fix intent", "master intent"]
    async with simulated(tmp_path, _MISSION) as sim:
        mission_id = None
        for point in points:
            mission_id, was_cut = await run_until_cut(sim, _CUTS[point](), mission_id=mission_id)
            assert was_cut, point
        assert mission_id is not None
        run = await _finish(sim, mission_id)
    assert sum(1 for r in run.wal.records if r.type == RecordType.MISSION_CREATED) == 1


async def test_replaying_a_finished_mission_rebuilds_the_same_model(tmp_path: Path) -> None:
    async with simulated(tmp_path, _MISSION) as sim:
        run = await run_mission(sim)
    assert run.state is MissionState.SEALED
    assert run.wal.intents(kind="fix"), "a review round failed, so the model saw a fix loop"
    journal = await Journal.open(
        mission_wal_dir(sim.project, run.mission_id), durability=Durability.NONE
    )
    try:
        replayed = journal.model
    finally:
        await journal.close()
    assert replayed.counts() == run.model.counts() == {"verified": 3}
    assert (replayed.tokens, replayed.cost, replayed.turns_ended) == (
        run.model.tokens,
        run.model.cost,
        run.model.turns_ended,
    )
    assert replayed.tokens == sum(e["tokens"] for e in run.wal.ended().values()) > 0
    assert replayed == run.model
