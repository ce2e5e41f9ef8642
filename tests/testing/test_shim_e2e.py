"""The shim world's offline parts: holding answers, reading the WAL and /proc, the install hook."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.testing.scenario import FileWrite, PlanScript, Scenario, UnitScript
from opencode_orchestrator.testing.scenario_player import ScenarioPlayer
from opencode_orchestrator.testing.scenario_roles import Role
from opencode_orchestrator.testing.shim_e2e import (
    PLUGIN_LOCK,
    PLUGIN_PACKAGE,
    Holding,
    final_state,
    proc_cpu_seconds,
    read_wal,
    seed_plugin_package,
)
from opencode_orchestrator.wal.record import Record
from tests.testing.scenario_helpers import Conversation

UNIT = UnitScript(
    id="only",
    title="The only unit",
    files=["only.txt"],
    writes=[FileWrite(path="only.txt", content="x\n")],
)
SCENARIO = Scenario(goal="Write only.txt.", plans=[PlanScript(units=[UNIT])])


def _record(seq: int, record_type: RecordType, **data: object) -> Record:
    return Record(v=1, seq=seq, ts=float(seq), type=record_type.value, data=data)


def test_holding_delays_the_selected_answers_up_to_its_limit() -> None:
    holding = Holding(lambda r: r.role is Role.PLANNER, 600.0, limit=1)
    player = ScenarioPlayer(SCENARIO)
    respond = holding(player)
    planner = Conversation(player, "planner", "ses_plan")
    planner.messages.append({"role": "user", "content": "Plan this mission in at most 5 units."})
    first = respond(planner.body(), {"x-session-id": "ses_plan"})
    again = respond(planner.body(), {"x-session-id": "ses_plan"})
    assert first.delay == 600.0
    assert first.tool_call is not None  # the player's answer, only later
    assert again.delay == 0.0
    assert holding.held == [player.requests[0]]


def test_holding_leaves_other_requests_alone() -> None:
    holding = Holding(lambda r: r.role is Role.REVIEWER, 600.0)
    player = ScenarioPlayer(SCENARIO)
    planner = Conversation(player, "planner", "ses_plan")
    planner.messages.append({"role": "user", "content": "Plan this mission in at most 5 units."})
    plan = holding(player)(planner.body(), {"x-session-id": "ses_plan"})
    assert plan.delay == 0.0
    assert holding.held == []


def test_final_state_is_the_last_state_when_final() -> None:
    running = [_record(1, RecordType.MISSION_STATE, state="running", reason="", iteration=1)]
    assert final_state(running) is None
    assert final_state([]) is None
    ended = [*running, _record(2, RecordType.MISSION_STATE, state="sealed", reason="", iteration=1)]
    assert final_state(ended) == "sealed"


def test_read_wal_of_a_mission_not_started_yet_is_empty(tmp_path: Path) -> None:
    assert read_wal(tmp_path, "m0123456789abcd") == []


def test_proc_cpu_seconds_grows_with_work() -> None:
    before = proc_cpu_seconds(os.getpid())
    total = 0
    while proc_cpu_seconds(os.getpid()) <= before:
        total += sum(range(10_000))
    assert proc_cpu_seconds(os.getpid()) > before > 0


def test_the_seeded_plugin_package_is_one_npm_would_skip(tmp_path: Path) -> None:
    seed_plugin_package(tmp_path / "opencode")
    assert (tmp_path / "opencode" / "node_modules").is_dir()
    package = orjson.loads((tmp_path / "opencode" / "package.json").read_bytes())
    lock = orjson.loads((tmp_path / "opencode" / "package-lock.json").read_bytes())
    assert package == PLUGIN_PACKAGE
    assert lock == PLUGIN_LOCK
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
