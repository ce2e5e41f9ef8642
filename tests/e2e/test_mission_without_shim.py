"""A whole mission through a real ``opencode serve``, before the shim exists.

The orchestrator's CLI (``run --server``) drives OpenCode 1.18.33; OpenCode
calls the scenario fake LLM, which plays the planner, the workers (real
``write``/``edit``/``bash`` tool calls, so files land on disk through
OpenCode) and the reviewers. The mission agents are registered in
``opencode.json``, as the shim's ``config`` hook will do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission.records import RecordType, TurnKind
from opencode_orchestrator.mission.sessions import session_title
from opencode_orchestrator.testing.mission_e2e import (
    scenario_world,
    session_children,
)
from opencode_orchestrator.testing.scenario_roles import Role
from opencode_orchestrator.testing.scenario_roles import TurnKind as Played
from tests.e2e.helpers import of, run_to_end, seq, turn_span, verdicts
from tests.e2e.scenarios import MISSION_CHECK, diamond

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode, pytest.mark.e2e]

UNITS = ("a", "b", "c", "d")


async def test_a_four_unit_mission_seals(tmp_path: Path) -> None:
    scenario = diamond()
    async with scenario_world(tmp_path / "project", scenario) as world:
        run, records = await run_to_end(world, "sealed")
        mission_id = run.mission_id

        # The files, as the workers wrote and edited them through OpenCode's tools.
        for path, content in scenario.expected_files().items():
            assert (world.project / path).read_text() == content, path

        # Every unit verified, each with a shadow and a final review that passed.
        for unit in UNITS:
            states = [r.data["state"] for r in of(records, RecordType.UNIT_STATE, unit=unit)]
            assert states[-1] == "verified", (unit, states)
            assert verdicts(records, unit, shadow=True) == ["pass"], unit
            assert verdicts(records, unit, shadow=False) == ["pass"], unit
            checks = of(records, RecordType.CHECK_RESULT, unit=unit)
            assert [c.data["exit_code"] for c in checks] == [0], unit

        # The master review ran once and passed; the mission check ran; sealed last.
        assert verdicts(records, None) == ["pass"]
        assert len(of(records, RecordType.TURN_INTENT, kind=TurnKind.MASTER_REVIEW.value)) == 1
        mission_checks = of(records, RecordType.CHECK_RESULT, unit=None)
        assert [(c.data["command"], c.data["exit_code"]) for c in mission_checks] == [
            (MISSION_CHECK, 0)
        ]
        assert records[-1].type == RecordType.MISSION_STATE
        assert records[-1].data["state"] == "sealed"
        assert len(of(records, RecordType.MISSION_SEALED)) == 1

        # The barrier held: a unit's work began only after its dependencies were verified.
        for unit in UNITS:
            work = seq(records, RecordType.TURN_INTENT, unit=unit, kind=TurnKind.WORK.value)
            for dep in scenario.unit(unit).depends_on:  # type: ignore[union-attr]
                assert seq(records, RecordType.UNIT_STATE, unit=dep, state="verified") < work
        # b and c ran in parallel: each began working before the other's work ended.
        b_start, b_end = turn_span(records, "b", TurnKind.WORK)
        c_start, c_end = turn_span(records, "c", TurnKind.WORK)
        assert b_start < c_end
        assert c_start < b_end

        # Every session the mission made is a child of the mission's session in OpenCode.
        parent = of(records, RecordType.MISSION_CREATED)[0].data["parent_session"]
        made = {r.data["session"] for r in of(records, RecordType.SESSION_CREATED)}
        children = await session_children(world, parent)
        assert made <= {child["id"] for child in children}
        assert all(child["parentID"] == parent for child in children)
        titles = {
            session_title(mission_id, r.data["unit"], r.data["role"], r.data["attempt"])
            for r in of(records, RecordType.SESSION_CREATED)
        }
        assert titles == {child["title"] for child in children}
        roles = {r.data["role"] for r in of(records, RecordType.SESSION_CREATED)}
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
