"""A mission run from the command line leaves its story in ``mission.log``."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest

from opencode_orchestrator import runtime
from opencode_orchestrator.cli import main
from opencode_orchestrator.mission.engine import mission_log_path
from tests.mission import journals


def _records(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_text().splitlines()]


def _log_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("{")]


def test_run_sim_leaves_a_json_mission_log_with_every_milestone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "add a feature", "--sim", "--project", str(tmp_path), "--sim-units", "3"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    mission_id = out.splitlines()[0].split()[1]
    assert _log_lines(err) == []  # the terminal stayed quiet (warning)...
    path = mission_log_path(tmp_path, mission_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    records = _records(path)  # ...the mission's file did not (info)
    assert {r["mission_id"] for r in records} == {mission_id}
    assert all(r["level"] in {"info", "warning", "error"} for r in records)
    events = [r["event"] for r in records]
    plan = events.index("plan.accepted")
    dispatched = [
        i
        for i, r in enumerate(records)
        if r["event"] == "unit.state" and r["state"] == "dispatched"
    ]
    sealed = events.index("mission.sealed")
    assert events.index("mission.created") < plan < dispatched[0] < sealed
    assert len(dispatched) == 3
    assert records[-1]["event"] == "mission.state"
    assert records[-1]["state"] == "sealed"


def test_resume_appends_to_the_same_mission_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.run(journals.planning_mission, tmp_path, "m1")
    path = mission_log_path(tmp_path, "m1")
    path.write_text('{"event":"from the first run","mission_id":"m1"}\n')
    assert main(["resume", "m1", "--sim", "--project", str(tmp_path)]) == 0
    capsys.readouterr()
    events = [r["event"] for r in _records(path)]
    assert events[0] == "from the first run"
    assert events[1:3] == ["wal.opened", "mission.resumed"]
    assert "mission.sealed" in events
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a wider file is tightened


def test_the_log_section_of_the_configuration_sets_the_mission_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".opencode").mkdir()
    (tmp_path / ".opencode" / "orchestrator.json").write_text('{"log": {"level": "debug"}}')
    argv = ["run", "add a feature", "--sim", "--project", str(tmp_path), "--sim-units", "2"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert _log_lines(err) == []  # the terminal is not the file
    mission_id = out.splitlines()[0].split()[1]
    records = _records(mission_log_path(tmp_path, mission_id))
    assert "turn.intent" in {r["event"] for r in records if r["level"] == "debug"}
