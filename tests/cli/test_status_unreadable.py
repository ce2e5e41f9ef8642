"""``status`` and ``resume`` with a mission whose log is damaged: named, never skipped."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import orjson
import pytest

from opencode_orchestrator import runtime
from opencode_orchestrator.cli import main
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import load_mission
from opencode_orchestrator.wal.paths import list_segments, mission_wal_dir
from tests.mission import journals


def _damaged(project: Path, mission_id: str, created_at: float = 1000.0) -> Path:
    runtime.run(partial(journals.unfinished_mission, project, mission_id, created_at=created_at))
    journal = mission_wal_dir(project, mission_id)
    _first, segment = list_segments(journal)[0]
    lines = segment.read_bytes().split(b"\n")
    line = bytearray(lines[4])  # after mission.created, the plan and "running"; valid lines follow
    line[len(line) // 2] ^= 0x01
    lines[4] = bytes(line)
    segment.write_bytes(b"\n".join(lines))
    return journal


def test_status_lists_a_damaged_mission_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.run(partial(journals.sealed_mission, tmp_path, "fine", created_at=500.0))
    journal = _damaged(tmp_path, "broken")
    capsys.readouterr()
    assert main(["status", "--project", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    rows = out.splitlines()
    assert rows[0].startswith("fine ")
    assert rows[1].startswith("broken ")
    assert "UNREADABLE" in rows[1]
    assert "goal of broken" in rows[1]
    assert "unreadable: " in out
    assert "[wal.corrupt]" in out
    assert "last state its readable records show: running" in out
    assert f"opencode-orchestrator wal verify {journal}" in out
    assert f"opencode-orchestrator wal repair {journal}" in out
    assert "no missions" not in out
    assert "1 mission" in err


def test_status_json_lists_a_damaged_mission_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = _damaged(tmp_path, "broken")
    capsys.readouterr()
    assert main(["status", "--json", "--project", str(tmp_path)]) == 1
    [entry] = orjson.loads(capsys.readouterr().out)["missions"]
    assert entry["mission_id"] == "broken"
    assert entry["state"] == "unreadable"
    assert entry["error_code"] == "wal.corrupt"
    assert "byte " in entry["error"]
    assert entry["last_state"] == "running"
    assert entry["journal"] == str(journal)
    assert entry["commands"] == [
        f"opencode-orchestrator wal verify {journal}",
        f"opencode-orchestrator wal repair {journal}",
    ]


def test_status_of_the_damaged_mission_names_the_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = _damaged(tmp_path, "broken")
    for json in ([], ["--json"]):
        assert main(["status", "broken", "--project", str(tmp_path), *json]) == 1
        err = capsys.readouterr().err
        assert "corrupt at byte" in err
        assert f"opencode-orchestrator wal repair {journal}" in err
        assert "[wal.corrupt]" in err


def test_resume_will_not_guess_past_a_damaged_mission_that_may_be_the_newest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.run(partial(journals.planning_mission, tmp_path, "older", created_at=500.0))
    journal = _damaged(tmp_path, "broken", created_at=1000.0)
    capsys.readouterr()
    assert main(["resume", "--sim", "--project", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "mission broken may be unfinished but cannot be read" in err
    assert f"opencode-orchestrator wal repair {journal}" in err
    assert "name the mission to resume" in err
    assert load_mission(tmp_path, "older").state is MissionState.PLANNING  # not resumed


def test_resume_takes_the_newest_unfinished_mission_and_names_an_older_damaged_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _damaged(tmp_path, "broken", created_at=500.0)
    runtime.run(partial(journals.planning_mission, tmp_path, "newer", created_at=1000.0))
    capsys.readouterr()
    assert main(["resume", "--sim", "--project", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "mission newer"
    assert "mission broken may be unfinished but cannot be read" in err
    assert load_mission(tmp_path, "newer").state is MissionState.SEALED


def test_watch_will_not_guess_past_a_damaged_mission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _damaged(tmp_path, "broken")
    assert main(["status", "--watch", "--project", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "mission broken may be unfinished but cannot be read" in err
    assert "name the mission to watch" in err
