"""The mission model's memory: a finished unit keeps its outcome, not its working state.

The engine's model (``keep_evidence`` off) must not grow with every unit a
long mission finishes: once a unit is final, its report, sessions, verdicts,
check results and usage go (the journal has them), and what is left is what
later decisions read. Report readers replay the journal with the evidence
kept. Both models are folds of the same records, so replay still rebuilds the
engine's model exactly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.records import MISSION_REGISTRY, RecordType
from opencode_orchestrator.mission.report import mission_summary, write_report
from opencode_orchestrator.mission.states import UnitState
from opencode_orchestrator.mission.store import load_mission, mission_dir
from opencode_orchestrator.wal import WriteAheadLog
from opencode_orchestrator.wal.log import Durability
from opencode_orchestrator.wal.paths import list_segments, mission_wal_dir
from tests.mission import journals
from tests.mission.enginesupport import Wal

pytestmark = pytest.mark.anyio

_R = RecordType

KEPT = frozenset(
    {"spec", "iteration", "state", "reason", "attempt", "rounds", "turns", "summary", "learnings"}
)
"""What a verified unit of the engine's model may hold beyond a fresh unit of the same plan."""


def _changed(unit: UnitModel) -> set[str]:
    """The fields of ``unit`` that differ from a freshly planned unit's."""
    fresh = UnitModel(spec=unit.spec)
    return {
        f.name
        for f in dataclasses.fields(UnitModel)
        if getattr(unit, f.name) != getattr(fresh, f.name)
    }


def _shares_the_empty_containers(unit: UnitModel) -> bool:
    """Whether ``unit``'s emptied containers are the ones every unit shares (no own copies)."""
    fresh = UnitModel(spec=unit.spec)
    return all(
        getattr(unit, name) is getattr(fresh, name)
        for name in ("children", "sessions", "checks", "failures", "kinds")
    )


async def _verified_units(project: Path, mission_id: str, count: int) -> Journal:
    """A journal (left open) whose mission verified ``count`` units, one attempt each."""
    journal = await journals.open_journal(project, mission_id)
    await journals.create(journal, mission_id, project)
    units = [f"u{n}" for n in range(count)]
    await journals.plan(journal, units)
    for unit in units:
        await journals.start_unit(journal, unit)
        await journals.verify_unit(journal, unit)
    return journal


async def test_a_verified_unit_keeps_its_outcome_and_lets_the_rest_go(tmp_path: Path) -> None:
    journal = await _verified_units(tmp_path, "m1", 3)
    try:
        model = journal.model
        assert not model.keep_evidence  # the engine's model
        for unit in model.units.values():
            assert unit.state is UnitState.VERIFIED
            assert _changed(unit) <= KEPT, unit.id
            assert _shares_the_empty_containers(unit)
            assert unit.pending == {}
            assert (unit.summary, unit.learnings, unit.reason) == ("did it", (), "passed")
        # Only the mission's own sessions would be left; this one made none.
        assert model.sessions == {}
    finally:
        await journal.close()


async def test_replay_rebuilds_the_released_model_exactly(tmp_path: Path) -> None:
    journal = await _verified_units(tmp_path, "m1", 3)
    try:
        await journals.seal(journal)
        live = journal.model
    finally:
        await journal.close()
    replayed = await journals.open_journal(tmp_path, "m1")
    try:
        assert replayed.model == live
    finally:
        await replayed.close()
    assert load_mission(tmp_path, "m1", keep_evidence=False) == live


async def test_the_evidence_stays_in_the_journal_for_the_report(tmp_path: Path) -> None:
    journal = await _verified_units(tmp_path, "m1", 2)
    try:
        engine = journal.model
        full = load_mission(tmp_path, "m1")
        assert full.keep_evidence
        u0 = full.units["u0"]
        assert u0.sessions == {"worker": "ses_u0_1"}
        assert u0.verdict is not None
        assert u0.verdict["verdict"] == "pass"
        assert [c["command"] for c in u0.checks] == ["true"]
        assert (u0.tokens, u0.cost, u0.turns) == (1000, 0.01, 1)
        assert u0.started_at is not None
        assert u0.ended_at is not None
        assert set(full.sessions) == {"ses_u0_1", "ses_u1_1"}
        # The fields both keep are the same: the two models fold the same records.
        evidence = {"sessions", "verdict", "checks", "tokens", "cost", "started_at", "ended_at"}
        for name, unit in engine.units.items():
            for f in dataclasses.fields(UnitModel):
                if f.name not in evidence:
                    assert getattr(unit, f.name) == getattr(full.units[name], f.name), f.name
        # The engine's model is not summarised itself: the report replays the journal.
        with pytest.raises(ValueError, match="evidence"):
            mission_summary(engine)
        paths = await write_report(mission_dir(tmp_path, "m1"))
        document, summary = orjson.loads(paths.json.read_bytes()), mission_summary(full)
        units = summary.pop("units")
        assert {k: document[k] for k in summary} == summary
        assert [
            {k: d[k] for k in u} for d, u in zip(document["units"], units, strict=True)
        ] == units
    finally:
        await journal.close()


async def test_a_unit_in_flight_keeps_its_working_state(tmp_path: Path) -> None:
    journal = await journals.open_journal(tmp_path, "m1")
    try:
        await journals.create(journal, "m1", tmp_path)
        await journals.plan(journal, ["u1"])
        session = await journals.start_unit(journal, "u1")
        model = journal.model
        unit = model.units["u1"]
        assert unit.sessions == {"worker": session}
        assert model.sessions[session]["unit"] == "u1"
        assert unit.kinds == {"work"}
        assert model.session_directory(model.turns["t_u1_1"]) is None
        await journals.fail_attempt(journal, "u1", "gave up")
        await journals.start_unit(journal, "u1", attempt=2)
        # The first attempt's session is never asked for again.
        assert set(model.sessions) == {"ses_u1_2"}
        await journal.write(_R.UNIT_STATE, {"unit": "u1", "state": "failed", "reason": "done"})
        assert model.sessions == {}
        assert unit.failures == ("attempt 1: gave up",)
        # An open turn of a final unit still finds its unit's directory.
        assert model.session_directory(model.turns["t_u1_2"]) is None
    finally:
        await journal.close()


def _apply(model: MissionModel, records: list[tuple[RecordType, dict[str, Any]]]) -> None:
    for n, (record_type, data) in enumerate(records):
        model.apply(record_type.value, data, 1000.0 + n)


def _raced_mission(keep_evidence: bool) -> MissionModel:
    """A unit raced by two strategies; r2 wins with learnings in its report and verdict."""
    model = MissionModel(keep_evidence=keep_evidence)
    spec = {"id": "u1", "title": "raced", "race": 2}
    strategies = [{"id": f"u1.r{n}", "title": f"r{n}"} for n in (1, 2)]
    report = {"outcome": "done", "summary": "r2 did it", "learnings": ["use tabs"]}
    verdict = {"verdict": "pass", "findings": [], "learnings": ["tests are slow"]}
    records: list[tuple[RecordType, dict[str, Any]]] = [
        (_R.PLAN_ACCEPTED, {"iteration": 1, "units": [spec]}),
        (_R.UNIT_STATE, {"unit": "u1", "state": "ready"}),
        (
            _R.PLAN_ACCEPTED,
            {
                "iteration": 1,
                "parent_unit": "u1",
                "units": strategies,
                "race": True,
                "directories": {"u1.r1": "/wt/r1", "u1.r2": "/wt/r2"},
            },
        ),
        (_R.UNIT_STATE, {"unit": "u1", "state": "delegated"}),
    ]
    for n in (1, 2):
        sid = f"ses_r{n}"
        records += [
            (_R.UNIT_STATE, {"unit": f"u1.r{n}", "state": "ready"}),
            (_R.UNIT_STATE, {"unit": f"u1.r{n}", "state": "dispatched", "attempt": 1}),
            (
                _R.SESSION_CREATED,
                {"session": sid, "role": "worker", "unit": f"u1.r{n}", "directory": f"/wt/r{n}"},
            ),
            (
                _R.TURN_INTENT,
                {"turn": f"t{n}", "session": sid, "message": f"m{n}", "kind": "work"}
                | {"unit": f"u1.r{n}", "attempt": 1},
            ),
        ]
    records += [
        (_R.TURN_ENDED, {"turn": "t2", "status": "completed", "answer": report}),
        (_R.UNIT_STATE, {"unit": "u1.r2", "state": "reported"}),
        (_R.UNIT_STATE, {"unit": "u1.r2", "state": "reviewing"}),
        (_R.REVIEW_VERDICT, {"unit": "u1.r2", "round": 1, "verdict": verdict}),
        (_R.UNIT_STATE, {"unit": "u1.r2", "state": "verified", "reason": "passed"}),
        (_R.UNIT_STATE, {"unit": "u1.r1", "state": "cancelled", "reason": "u1.r2 won"}),
        (_R.RACE_WON, {"unit": "u1", "attempt": 2, "directory": "/wt/r2"}),
        (_R.UNIT_STATE, {"unit": "u1", "state": "verified", "reason": "race won by u1.r2"}),
    ]
    _apply(model, records)
    return model


@pytest.mark.parametrize("keep_evidence", [False, True])
def test_a_race_keeps_what_its_cleanup_and_the_barrier_read(keep_evidence: bool) -> None:
    model = _raced_mission(keep_evidence)
    winner, loser, unit = (model.units[u] for u in ("u1.r2", "u1.r1", "u1"))
    assert winner.learnings == ("use tabs", "tests are slow")  # report's, then verdict's
    assert (unit.summary, unit.learnings) == ("r2 did it", winner.learnings)
    assert (loser.summary, loser.learnings) == (None, ())  # only verified units teach
    # The race picks the first verified strategy, and deletes the losers' sessions.
    assert winner.ended_at is not None
    assert loser.sessions == {"worker": "ses_r1"}
    assert model.session_directory(model.turns["t1"]) == "/wt/r1"  # its turn is still open
    if keep_evidence:  # the winner's verdict is the unit's
        assert unit.verdict is not None
        assert unit.verdict == winner.verdict
    else:
        assert unit.verdict is winner.verdict is None


async def test_a_journal_over_many_segments_is_read_one_line_at_a_time(tmp_path: Path) -> None:
    journal = await _verified_units(tmp_path, "m1", 3)
    try:
        await journals.seal(journal)
    finally:
        await journal.close()
    expected = mission_summary(load_mission(tmp_path, "m1"))
    records = Wal.read(tmp_path, "m1").records
    # The same records (written anew: their times differ), rotated every ~1 KB.
    async with await WriteAheadLog.open(
        mission_wal_dir(tmp_path, "m2"),
        durability=Durability.NONE,
        registry=MISSION_REGISTRY,
        segment_max_bytes=1024,
    ) as wal:
        for record in records:
            await wal.append(record.type, record.data)
    assert len(list_segments(mission_wal_dir(tmp_path, "m2"))) > 3
    summary = mission_summary(load_mission(tmp_path, "m2"))
    assert summary["totals"] == expected["totals"]
    times = {"started_at", "ended_at", "duration"}
    assert [{k: v for k, v in u.items() if k not in times} for u in summary["units"]] == [
        {k: v for k, v in u.items() if k not in times} for u in expected["units"]
    ]
