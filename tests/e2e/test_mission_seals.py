"""Scenario 1: a four-unit mission with dependencies seals, started with ``/extreme-mission``.

The plugin is installed with ``opencode-orchestrator install --project``; the
shim spawns the core and registers the mission agents; the test types
``/extreme-mission <goal>`` in a session of its own, the mission's parent.
OpenCode calls the scenario fake LLM, which plays the planner, the workers
(real ``write``/``edit``/``bash`` tool calls, so files land on disk through
OpenCode) and the reviewers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission.records import RecordType, TurnKind
from opencode_orchestrator.mission.sessions import session_title
from opencode_orchestrator.testing.scenario_roles import Role
from opencode_orchestrator.testing.scenario_roles import TurnKind as Played
from opencode_orchestrator.testing.shim_e2e import MISSION_DEADLINE, shim_world
from tests.e2e.helpers import of, seq, turn_span, verdicts
from tests.e2e.scenarios import MISSION_CHECK, diamond

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode, pytest.mark.e2e]

UNITS = ("a", "b", "c", "d")


async def test_a_four_unit_mission_started_with_the_command_seals(tmp_path: Path) -> None:
    scenario = diamond()
    async with shim_world(tmp_path / "project", scenario) as world:
        mission = await world.start_mission()
        mission_id = mission.mission_id
        assert mission.reply.startswith(f"Mission {mission_id} started: {scenario.goal}")
        async with world.deadline(MISSION_DEADLINE, "seal", mission_id):
            records = await world.wait_for_end(mission_id)
            sealed_toast = await world.wait_for_toast(lambda t: "SEALED" in t["message"])

        # Sealed last, and said so to the user.
        assert records[-1].type == RecordType.MISSION_STATE
        assert records[-1].data["state"] == "sealed", await world.explain(mission_id)
        assert len(of(records, RecordType.MISSION_SEALED)) == 1
        assert sealed_toast["variant"] == "success"
        assert sealed_toast["message"].startswith(f"Mission {mission_id} SEALED: 4 of 4 units")

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

        # The master review ran once, after the barrier, and passed; the mission check ran.
        assert verdicts(records, None) == ["pass"]
        masters = of(records, RecordType.TURN_INTENT, kind=TurnKind.MASTER_REVIEW.value)
        assert len(masters) == 1
        assert seq(records, RecordType.MISSION_STATE, state="barrier") < masters[0].seq
        mission_checks = of(records, RecordType.CHECK_RESULT, unit=None)
        assert [(c.data["command"], c.data["exit_code"]) for c in mission_checks] == [
            (MISSION_CHECK, 0)
        ]

        # The barrier held: a unit's work began only after its dependencies were verified,
        # and the barrier only after every unit was.
        barrier = seq(records, RecordType.MISSION_STATE, state="barrier")
        for unit in UNITS:
            work = seq(records, RecordType.TURN_INTENT, unit=unit, kind=TurnKind.WORK.value)
            for dep in scenario.unit(unit).depends_on:  # type: ignore[union-attr]
                assert seq(records, RecordType.UNIT_STATE, unit=dep, state="verified") < work
            assert seq(records, RecordType.UNIT_STATE, unit=unit, state="verified") < barrier
        # b and c ran in parallel: each began working before the other's work ended.
        b_start, b_end = turn_span(records, "b", TurnKind.WORK)
        c_start, c_end = turn_span(records, "c", TurnKind.WORK)
        assert b_start < c_end
        assert c_start < b_end

        # The mission hangs under the session the command was typed in.
        created = of(records, RecordType.MISSION_CREATED)[0]
        assert created.data["parent_session"] == mission.session
        assert created.data["goal"] == scenario.goal
        made = {r.data["session"] for r in of(records, RecordType.SESSION_CREATED)}
        children = await world.children(mission.session)
        assert made == {child["id"] for child in children}
        assert all(child["parentID"] == mission.session for child in children)
        titles = {
            session_title(mission_id, r.data["unit"], r.data["role"], r.data["attempt"])
            for r in of(records, RecordType.SESSION_CREATED)
        }
        assert titles == {child["title"] for child in children}
        roles = {r.data["role"] for r in of(records, RecordType.SESSION_CREATED)}
        assert roles == {"planner", "worker", "reviewer", "master"}
        assert await world.session_status() == {}

        # What the fake LLM was asked: every role turn, from those sessions, parent named;
        # the agents' prompts are the ones the shim registered from the core.
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
        assert {r.parent for r in player.requests if r.role is not None} == {mission.session}
        writes = [r for r in player.requests if r.answer in {"tool:write", "tool:edit"}]
        assert len(writes) == 6
        assert all(r.session is not None for r in player.requests)

        # One core served it all: OpenCode's child, never restarted.
        assert len(world.cores_started()) == 1
        assert world.core_pid() == world.cores_started()[0]
