"""A whole mission through a real ``opencode serve``, before the shim exists.

The orchestrator's CLI (``run --server``) drives OpenCode 1.18.33; OpenCode
calls the scenario fake LLM, which plays the planner, the workers (real
``write``/``edit``/``bash`` tool calls, so files land on disk through
OpenCode) and the reviewers. The mission agents are registered in
``opencode.json``, as the shim's ``config`` hook will do.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import anyio
import pytest

from opencode_orchestrator.mission.records import RecordType, TurnKind
from opencode_orchestrator.mission.sessions import session_title
from opencode_orchestrator.testing.mission_e2e import (
    E2EWorld,
    run_mission_cli,
    scenario_world,
    session_children,
    wal_records,
)
from opencode_orchestrator.testing.scenario_roles import Role
from opencode_orchestrator.testing.scenario_roles import TurnKind as Played
from opencode_orchestrator.wal.record import Record
from tests.e2e.scenarios import MISSION_CHECK, diamond

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode, pytest.mark.e2e]

UNITS = ("a", "b", "c", "d")
RUN_DEADLINE = 120.0


def _of(records: Iterable[Record], record_type: RecordType, **match: object) -> list[Record]:
    return [
        r
        for r in records
        if r.type == record_type and all(r.data.get(k) == v for k, v in match.items())
    ]


def _seq(records: list[Record], record_type: RecordType, **match: object) -> int:
    found = _of(records, record_type, **match)
    assert found, f"no {record_type} record with {match}"
    return found[0].seq


def _turn_span(records: list[Record], unit: str, kind: TurnKind) -> tuple[int, int]:
    """The WAL positions of a unit's first turn of ``kind``: its intent and its end."""
    intent = _of(records, RecordType.TURN_INTENT, unit=unit, kind=kind.value)[0]
    turn = intent.data["turn"]
    return intent.seq, _seq(records, RecordType.TURN_ENDED, turn=turn)


async def _run(world: E2EWorld) -> tuple[str, list[Record]]:
    with anyio.fail_after(RUN_DEADLINE):
        run = await run_mission_cli(world)
    assert run.returncode == 0, run.explain()
    assert run.document["state"] == "sealed", run.explain()
    records = await anyio.to_thread.run_sync(wal_records, world.project, run.mission_id)
    return run.mission_id, records


async def test_a_four_unit_mission_seals(tmp_path: Path) -> None:
    scenario = diamond()
    async with scenario_world(tmp_path / "project", scenario) as world:
        mission_id, records = await _run(world)

        # The files, as the workers wrote and edited them through OpenCode's tools.
        for path, content in scenario.expected_files().items():
            assert (world.project / path).read_text() == content, path

        # Every unit verified, each with a shadow and a final review that passed.
        for unit in UNITS:
            states = [r.data["state"] for r in _of(records, RecordType.UNIT_STATE, unit=unit)]
            assert states[-1] == "verified", (unit, states)
            for shadow in (True, False):
                verdicts = _of(records, RecordType.REVIEW_VERDICT, unit=unit, shadow=shadow)
                assert [v.data["verdict"]["verdict"] for v in verdicts] == ["pass"], (unit, shadow)
            checks = _of(records, RecordType.CHECK_RESULT, unit=unit)
            assert [c.data["exit_code"] for c in checks] == [0], unit

        # The master review ran once and passed; the mission check ran; sealed last.
        master = _of(records, RecordType.REVIEW_VERDICT, unit=None)
        assert [m.data["verdict"]["verdict"] for m in master] == ["pass"]
        assert len(_of(records, RecordType.TURN_INTENT, kind=TurnKind.MASTER_REVIEW.value)) == 1
        mission_checks = _of(records, RecordType.CHECK_RESULT, unit=None)
        assert [(c.data["command"], c.data["exit_code"]) for c in mission_checks] == [
            (MISSION_CHECK, 0)
        ]
        assert records[-1].type == RecordType.MISSION_STATE
        assert records[-1].data["state"] == "sealed"
        assert len(_of(records, RecordType.MISSION_SEALED)) == 1

        # The barrier held: a unit's work began only after its dependencies were verified.
        for unit in UNITS:
            work = _seq(records, RecordType.TURN_INTENT, unit=unit, kind=TurnKind.WORK.value)
            for dep in scenario.unit(unit).depends_on:  # type: ignore[union-attr]
                assert _seq(records, RecordType.UNIT_STATE, unit=dep, state="verified") < work
        # b and c ran in parallel: each began working before the other's work ended.
        b_start, b_end = _turn_span(records, "b", TurnKind.WORK)
        c_start, c_end = _turn_span(records, "c", TurnKind.WORK)
        assert b_start < c_end
        assert c_start < b_end

        # Every session the mission made is a child of the mission's session in OpenCode.
        parent = _of(records, RecordType.MISSION_CREATED)[0].data["parent_session"]
        made = {r.data["session"] for r in _of(records, RecordType.SESSION_CREATED)}
        children = await session_children(world, parent)
        assert made <= {child["id"] for child in children}
        assert all(child["parentID"] == parent for child in children)
        titles = {
            session_title(mission_id, r.data["unit"], r.data["role"], r.data["attempt"])
            for r in _of(records, RecordType.SESSION_CREATED)
        }
        assert titles == {child["title"] for child in children}
        roles = {r.data["role"] for r in _of(records, RecordType.SESSION_CREATED)}
        assert roles == {"planner", "worker", "reviewer", "master"}

        # What the fake LLM was asked: every role turn, from those sessions, parent named.
        player = world.player
        assert player.unexpected == []
        assert {(t.role, t.kind) for t in player.turns if t.unit is None} == {
            (Role.PLANNER, Played.PLAN),
            (Role.MASTER, Played.MASTER),
        }
        for unit in UNITS:
            kinds = [t.kind for t in player.played(unit=unit)]
            assert sorted(kinds) == sorted([Played.WORK, Played.SHADOW, Played.REVIEW]), unit
        assert {t.session for t in player.turns} == made
        assert {r.parent for r in player.requests} == {parent}
        writes = [r for r in player.requests if r.answer in {"tool:write", "tool:edit"}]
        assert len(writes) == 6
        assert all(r.session is not None for r in player.requests)
