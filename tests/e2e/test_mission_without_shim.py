"""The other way to start a mission: the ``run --server`` CLI against a real ``opencode serve``.

No plugin: the mission agents are registered in ``opencode.json`` (as the
shim's ``config`` hook would), and ``opencode-orchestrator run GOAL --server
URL --json`` drives the mission to its end and reports it. The missions
themselves are tested through the shim (``test_mission_seals.py``,
``test_scenarios.py``); these check what only the CLI does: its JSON document
and exit code, and the root session it makes when no session is its parent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.testing.mission_e2e import scenario_world, session_children
from opencode_orchestrator.testing.scenario import Malformed
from opencode_orchestrator.testing.scenario_roles import Role
from tests.e2e.helpers import of, run_to_end
from tests.e2e.scenarios import diamond, single

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode, pytest.mark.e2e]


async def test_the_cli_runs_a_four_unit_mission_to_its_seal(tmp_path: Path) -> None:
    scenario = diamond()
    async with scenario_world(tmp_path / "project", scenario) as world:
        run, records = await run_to_end(world, "sealed")  # exit 0, `state: sealed`
        assert run.document["goal"] == scenario.goal, run.explain()
        for path, content in scenario.expected_files().items():
            assert (world.project / path).read_text() == content, path
        assert records[-1].data["state"] == "sealed"
        assert len(of(records, RecordType.MISSION_SEALED)) == 1
        # No parent session was given: the mission made a root session and hangs under it.
        parent = of(records, RecordType.MISSION_CREATED)[0].data["parent_session"]
        assert parent is not None
        made = {r.data["session"] for r in of(records, RecordType.SESSION_CREATED)}
        children = await session_children(world, parent)
        assert made == {child["id"] for child in children}
        assert {r.parent for r in world.player.requests if r.role is not None} == {parent}
        assert world.player.unexpected == []


async def test_the_cli_reports_a_failed_mission_with_its_reason(tmp_path: Path) -> None:
    scenario = single(malformed_plans=10, malformed_as=Malformed.SCHEMA)
    async with scenario_world(tmp_path / "project", scenario) as world:
        run, records = await run_to_end(world, "failed")  # exit 1, `state: failed`
        reason = run.document["reason"]
        assert reason.startswith("no valid plan after retries: the answer is not a plan")
        assert reason == records[-1].data["reason"]
        assert [t.role for t in world.player.turns] == [Role.PLANNER] * 3
