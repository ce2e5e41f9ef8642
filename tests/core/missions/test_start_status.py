"""mission/start, mission/status and agents/list over in-memory streams, on the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.core.errors import CoreErrorCode
from opencode_orchestrator.jsonrpc import ErrorCode
from opencode_orchestrator.mission.contracts import MISSION_AGENTS
from opencode_orchestrator.mission.prompts.loader import agent_definitions
from opencode_orchestrator.mission.states import MissionState
from tests.core.missions.harness import core_session, disk_model
from tests.mission.enginesupport import GOAL, sim_config, simulated

pytestmark = pytest.mark.anyio


async def test_a_started_mission_reports_progress_until_sealed(tmp_path: Path) -> None:
    async with simulated(tmp_path) as sim, core_session(sim) as shim:
        started = await shim.call("mission/start", {"goal": GOAL})
        mid = started["missionId"]
        assert started == {
            "missionId": mid,
            "state": "PLANNING",
            "directory": str(sim.project),
            "message": f"Mission {mid} started: {GOAL}",
        }
        # Journaled before the answer: the WAL on disk holds mission.created.
        assert disk_model(sim.project, mid).goal == GOAL

        sealed = await shim.wait_state(mid, "SEALED")
        assert sealed["level"] == "info"
        assert "SEALED" in sealed["text"]
        states = shim.states(mid)
        assert states[0] == "PLANNING"  # the "started" notification
        assert shim.progress[0]["text"] == f"Mission {mid} started: {GOAL}"
        assert states[-1] == "SEALED"
        assert {"RUNNING", "BARRIER"} <= set(states)
        assert disk_model(sim.project, mid).state is MissionState.SEALED


async def test_status_with_and_without_an_id(tmp_path: Path) -> None:
    async with simulated(tmp_path) as sim, core_session(sim) as shim:
        empty = await shim.call("mission/status")
        assert empty == {
            "missions": [],
            "text": f"No missions in {sim.project}.",
            "missionId": None,
        }

        first = (await shim.call("mission/start", {"goal": "first goal"}))["missionId"]
        await shim.wait_state(first, "SEALED")
        second = (await shim.call("mission/start", {"goal": "second goal"}))["missionId"]
        await shim.wait_state(second, "SEALED")

        one = await shim.call("mission/status", {"missionId": first})
        [entry] = one["missions"]
        assert entry["missionId"] == first
        assert entry["goal"] == "first goal"
        assert entry["state"] == "SEALED"
        assert entry["units"] == {"VERIFIED": 2}
        assert entry["running"] is False
        assert entry["endedAt"] >= entry["startedAt"] > 0
        assert entry["iteration"] == 1
        assert one["missionId"] == first
        assert one["text"].startswith(f"### Mission {first} — SEALED\nGoal: first goal\n")
        assert "| Unit | State | Attempt | Session | Elapsed | Tokens | Cost |" in one["text"]

        listing = await shim.call("mission/status", {})
        assert [m["missionId"] for m in listing["missions"]] == [second, first]  # newest first
        # The newest mission's table, then a line for the other.
        assert listing["missionId"] == second
        assert listing["text"].startswith(f"### Mission {second} — SEALED\nGoal: second goal")
        assert f"Other missions:\n- `{first}` SEALED · 2/2 units verified" in listing["text"]


async def test_status_shows_the_mission_of_the_asking_session(tmp_path: Path) -> None:
    async with simulated(tmp_path) as sim, core_session(sim) as shim:
        parent = await sim.client.create_session(title="the user's session")
        params = {"goal": "its own", "parentSessionId": parent.id}
        own = (await shim.call("mission/start", params))["missionId"]
        await shim.wait_state(own, "SEALED")
        newer = (await shim.call("mission/start", {"goal": "a newer one"}))["missionId"]
        await shim.wait_state(newer, "SEALED")

        asked = await shim.call("mission/status", {"sessionId": parent.id})
        assert asked["missionId"] == own
        [entry] = [m for m in asked["missions"] if m["missionId"] == own]
        assert entry["parentSessionId"] == parent.id
        table = asked["text"]
        assert table.startswith(f"### Mission {own} — SEALED")
        units = disk_model(sim.project, own).units
        assert len(units) == 2
        for unit in units.values():
            row = next(line for line in table.splitlines() if line.startswith(f"| {unit.id} |"))
            assert "| VERIFIED | 1 | mission " in row
            tokens = row.split(" | ")[5]
            assert tokens.endswith("k"), row  # its figures came from the WAL
        assert "**Totals:** tokens " in table
        assert (await shim.call("mission/status", {"sessionId": "ses_other"}))["missionId"] == newer


async def test_status_of_a_running_mission_comes_from_memory(tmp_path: Path) -> None:
    # Every turn hangs: the mission stays in PLANNING until it is cancelled.
    config = sim_config(faults={"hang_rate": 1.0})
    async with simulated(tmp_path, config) as sim, core_session(sim) as shim:
        mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
        [entry] = (await shim.call("mission/status", {"missionId": mid}))["missions"]
        assert entry["running"] is True
        assert entry["state"] == "PLANNING"
        assert entry["endedAt"] is None
        [listed] = (await shim.call("mission/status"))["missions"]
        assert listed["running"] is True
        assert "running here" in (await shim.call("mission/status"))["text"]
        await shim.call("mission/cancel", {"missionId": mid})


async def test_a_parent_session_holds_the_mission_sessions(tmp_path: Path) -> None:
    async with simulated(tmp_path) as sim, core_session(sim) as shim:
        parent = await sim.client.create_session(title="the user's session")
        mid = (await shim.call("mission/start", {"goal": GOAL, "parentSessionId": parent.id}))[
            "missionId"
        ]
        await shim.wait_state(mid, "SEALED")
        model = disk_model(sim.project, mid)
        assert model.parent_session == parent.id
        record = await sim.record()
        assert record.children(parent.id)  # the mission's sessions hang under it


async def test_agents_list_gives_the_four_mission_agents(tmp_path: Path) -> None:
    async with core_session(None) as shim:
        result = await shim.call("agents/list")
    assert result == {"agents": agent_definitions()}
    assert set(result["agents"]) == set(MISSION_AGENTS)
    for agent in result["agents"].values():
        assert set(agent) == {"description", "prompt", "mode"}
        assert agent["mode"] == "subagent"


async def test_start_without_a_server_url_is_refused(tmp_path: Path) -> None:
    async with core_session(None, directory=str(tmp_path)) as shim:
        error = await shim.refused("mission/start", {"goal": GOAL})
        assert error.code == CoreErrorCode.NO_OPENCODE_SERVER
        assert "serverUrl" in error.message
        # Nothing was started, and the core still answers.
        assert (await shim.call("mission/status"))["missions"] == []


async def test_start_validates_its_params(tmp_path: Path) -> None:
    async with simulated(tmp_path) as sim, core_session(sim) as shim:
        blank = await shim.refused("mission/start", {"goal": "   "})
        assert blank.code == ErrorCode.INVALID_PARAMS
        assert blank.message.startswith("params.goal:")
        missing = await shim.refused("mission/start", {})
        assert missing.code == ErrorCode.INVALID_PARAMS
        config = await shim.refused(
            "mission/start", {"goal": GOAL, "config": {"limits": {"concurrency": 0}}}
        )
        assert config.code == ErrorCode.INVALID_PARAMS
        assert config.message.startswith("params.config.limits.concurrency:")
        relative = await shim.refused("mission/start", {"goal": GOAL, "directory": "project"})
        assert relative.code == CoreErrorCode.PROJECT_DIRECTORY
        absent = await shim.refused(
            "mission/start", {"goal": GOAL, "directory": str(tmp_path / "nowhere")}
        )
        assert absent.code == CoreErrorCode.PROJECT_DIRECTORY
        bad_id = await shim.refused("mission/status", {"missionId": "../etc"})
        assert bad_id.code == ErrorCode.INVALID_PARAMS


async def test_no_directory_anywhere_is_refused() -> None:
    async with core_session(None) as shim:
        error = await shim.refused("mission/status")
    assert error.code == CoreErrorCode.PROJECT_DIRECTORY


async def test_unknown_missions_are_refused(tmp_path: Path) -> None:
    async with simulated(tmp_path) as sim, core_session(sim) as shim:
        for method in ("mission/status", "mission/cancel", "mission/resume"):
            error = await shim.refused(method, {"missionId": "m-nope"})
            assert error.code == CoreErrorCode.MISSION_NOT_FOUND, method
            assert "m-nope" in error.message
        nothing = await shim.refused("mission/resume")
        assert nothing.code == CoreErrorCode.MISSION_NOT_FOUND
