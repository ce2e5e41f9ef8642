"""What the ``wal`` tools accept as a log: a log directory, one of its files, a mission's directory.

Anything else is refused with exit 1, and nothing is created in it; a log
whose every segment is gone is damaged, not "sound, last seq 0".
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from opencode_orchestrator.cli.main import main
from opencode_orchestrator.wal.paths import mission_wal_dir
from opencode_orchestrator.wal.snapshot import encode_snapshot
from tests.wal.helpers import v2_lines, write_segment


def _entries(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def _corrupt_mission(project: Path) -> Path:
    """A mission directory whose ``wal/`` holds a log damaged mid-segment."""
    lines = v2_lines(3)
    write_segment(mission_wal_dir(project, "m1"), 1, lines[0] + b"garbage\n" + lines[1] + lines[2])
    return mission_wal_dir(project, "m1").parent


def test_verify_of_a_mission_directory_checks_its_wal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mission = _corrupt_mission(tmp_path)
    assert main(["wal", "verify", str(mission)]) == 1
    out = capsys.readouterr().out
    assert f"{mission / 'wal'}: NOT sound" in out
    assert "corruption" in out


def test_inspect_and_repair_of_a_mission_directory_use_its_wal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mission = _corrupt_mission(tmp_path)
    assert main(["wal", "inspect", str(mission), "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["directory"] == str(mission / "wal")
    assert main(["wal", "repair", str(mission)]) == 0
    assert f"{mission / 'wal'}: repaired, kept records up to seq 1" in capsys.readouterr().out
    assert "LOCK" not in _entries(mission)


@pytest.mark.parametrize("action", ["inspect", "verify", "repair"])
def test_a_directory_without_a_log_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a log")
    assert main(["wal", action, str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{tmp_path}: not a write-ahead log directory" in captured.err
    assert _entries(tmp_path) == ["notes.txt"]  # no LOCK, nothing


@pytest.mark.parametrize("action", ["verify", "repair"])
def test_a_project_is_refused_with_where_its_logs_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    _corrupt_mission(tmp_path)
    assert main(["wal", action, str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "it is a project" in err
    assert f"{tmp_path}/.opencode/orchestrator/missions/<id>/wal" in err
    assert _entries(tmp_path) == [".opencode"]
    assert "LOCK" not in _entries(tmp_path / ".opencode" / "orchestrator" / "missions")


def test_a_mission_directory_whose_wal_holds_no_log_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = mission_wal_dir(tmp_path, "m1")
    journal.mkdir(parents=True)
    assert main(["wal", "repair", str(journal.parent)]) == 1
    assert f"{journal}: not a write-ahead log directory" in capsys.readouterr().err
    assert _entries(journal) == []


def test_a_file_outside_any_log_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("not a log")
    assert main(["wal", "verify", str(tmp_path / "notes.txt")]) == 1
    assert "not a file of a write-ahead log" in capsys.readouterr().err


def test_a_log_whose_every_segment_is_gone_is_not_sound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "LOCK").write_text("4242\n")  # a log was opened here; its segments deleted
    assert main(["wal", "verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "NOT sound" in out
    assert "no segment" in out
    assert main(["wal", "verify", str(tmp_path), "--json"]) == 1
    document = orjson.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert main(["wal", "inspect", str(tmp_path), "--json"]) == 0
    assert "no segment" in orjson.loads(capsys.readouterr().out)["missing_segments"]
    assert main(["wal", "repair", str(tmp_path)]) == 1
    assert "no record to salvage" in capsys.readouterr().err
    assert _entries(tmp_path) == ["LOCK"]


def test_a_snapshot_without_its_segment_is_not_sound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "snap-00000000000000000007.json").write_bytes(encode_snapshot(7, {}))
    assert main(["wal", "verify", str(tmp_path)]) == 1
    assert "no segment after the snapshot of seq 7" in capsys.readouterr().out


def test_a_sound_log_with_a_segment_still_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_segment(tmp_path, 1, b"")  # opened, nothing appended yet: sound
    assert main(["wal", "verify", str(tmp_path)]) == 0
    assert "sound, last seq 0" in capsys.readouterr().out
