"""The ``wal`` command: inspect, verify, repair, exit codes and output."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from opencode_orchestrator.cli.main import main
from opencode_orchestrator.wal.paths import list_segments
from opencode_orchestrator.wal.tools import repair_log
from tests.wal.helpers import future_line, open_wal, replay, v2_lines, write_segment


def _sound_log(directory: Path) -> Path:
    return write_segment(directory, 1, b"".join(v2_lines(3)))


def test_inspect_prints_a_table_and_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    segment = _sound_log(tmp_path)
    assert main(["wal", "inspect", str(tmp_path), "--records"]) == 0
    out = capsys.readouterr().out
    assert segment.name in out
    assert "last seq   3" in out
    assert '{"i":2}' in out


def test_inspect_json_accepts_a_segment_path_and_unknown_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    segment = _sound_log(tmp_path)
    assert main(["wal", "inspect", str(segment), "--json", "--records"]) == 0
    document = orjson.loads(capsys.readouterr().out)
    assert document["directory"] == str(tmp_path)
    assert document["last_seq"] == 3
    assert [r["seq"] for r in document["records"]] == [1, 2, 3]
    assert document["damage"] is None


def test_verify_sound_log_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _sound_log(tmp_path)
    assert main(["wal", "verify", str(tmp_path)]) == 0
    assert "sound, last seq 3" in capsys.readouterr().out


def test_verify_corrupt_log_exits_1_saying_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = v2_lines(3)
    segment = write_segment(tmp_path, 1, lines[0] + b"garbage\n" + lines[1] + lines[2])
    assert main(["wal", "verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "NOT sound" in out
    assert f"{segment}: byte {len(lines[0])}" in out
    assert f"opencode-orchestrator wal repair {tmp_path}" in out


def test_verify_reports_torn_tail_and_future_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_segment(tmp_path / "torn", 1, b"".join(v2_lines(2)) + b'{"crc":')
    assert main(["wal", "verify", str(tmp_path / "torn"), "--json"]) == 1
    document = orjson.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert "torn tail" in document["problems"][0]
    write_segment(tmp_path / "future", 1, b"".join(v2_lines(1)) + future_line(2, 3))
    assert main(["wal", "verify", str(tmp_path / "future")]) == 1
    assert "unsupported format version 3" in capsys.readouterr().out


def test_missing_path_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wal", "verify", str(tmp_path / "nope")]) == 1
    assert "no such write-ahead log" in capsys.readouterr().err


@pytest.mark.anyio
async def test_repair_keeps_the_longest_valid_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = v2_lines(6)
    first = write_segment(tmp_path, 1, lines[0] + lines[1] + b"\x00bitrot\n" + lines[2])
    later = write_segment(tmp_path, 4, b"".join(lines[3:]))
    assert main(["wal", "repair", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "kept records up to seq 2" in out
    assert first.read_bytes() == lines[0] + lines[1]
    assert first.with_name(first.name + ".broken").read_bytes() == b"\x00bitrot\n" + lines[2]
    assert later.with_name(later.name + ".broken").read_bytes() == b"".join(lines[3:])
    assert [p for _, p in list_segments(tmp_path)] == [first]
    assert main(["wal", "verify", str(tmp_path)]) == 0
    capsys.readouterr()
    assert await replay(tmp_path) == [{"i": 0}, {"i": 1}]
    assert main(["wal", "repair", str(tmp_path), "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["changed"] is False


@pytest.mark.anyio
async def test_repair_refuses_while_a_writer_holds_the_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with await open_wal(tmp_path):
        assert main(["wal", "repair", str(tmp_path)]) == 1
    assert "wal.locked" in capsys.readouterr().err


def test_repair_moves_a_gap_segment_aside(tmp_path: Path) -> None:
    lines = v2_lines(5)
    write_segment(tmp_path, 1, b"".join(lines[:2]))
    gap = write_segment(tmp_path, 4, b"".join(lines[3:]))
    report = repair_log(gap)
    assert report.last_seq == 2
    assert not gap.exists()
    assert gap.with_name(gap.name + ".broken").exists()


@pytest.mark.parametrize("action", ["inspect", "verify", "repair"])
def test_each_action_has_help(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["wal", action, "--help"])
    assert info.value.code == 0
    assert "PATH" in capsys.readouterr().out
