"""``wal repair`` says what it cut: a torn tail, or a damaged record in the middle of the log."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from opencode_orchestrator.cli.main import main
from opencode_orchestrator.wal.tools import repair_log
from tests.wal.helpers import v2_lines, write_segment


def _warnings(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["log_level"] == "warning"]


def test_a_damaged_record_mid_log_is_not_called_a_torn_tail(tmp_path: Path) -> None:
    lines = v2_lines(4)
    segment = write_segment(tmp_path, 1, lines[0] + b"\x00bitrot\n" + b"".join(lines[1:]))
    with structlog.testing.capture_logs() as logs:
        report = repair_log(tmp_path)
    [event] = _warnings(logs)
    assert event["event"] == "wal.repair.damaged_record_cut"
    assert (event["offset"], event["valid_records_cut"]) == (len(lines[0]), 3)
    assert event["cut_bytes"] == len(b"\x00bitrot\n" + b"".join(lines[1:]))
    [cut] = report.cut
    assert "a damaged record" in cut
    assert "the 3 valid record(s) after it" in cut
    assert "tail" not in cut
    assert segment.read_bytes() == lines[0]


def test_the_cli_says_a_damaged_record_was_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = v2_lines(3)
    write_segment(tmp_path, 1, lines[0] + b"\x00bitrot\n" + b"".join(lines[1:]))
    assert main(["wal", "repair", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "a damaged record (checksum mismatch or malformed frame)" in out
    assert "tail" not in out


def test_a_torn_tail_is_called_one(tmp_path: Path) -> None:
    lines = v2_lines(2)
    write_segment(tmp_path, 1, b"".join(lines) + b'{"crc":"00')
    with structlog.testing.capture_logs() as logs:
        report = repair_log(tmp_path)
    assert [e["event"] for e in _warnings(logs)] == ["wal.repair.torn_tail_cut"]
    assert "a torn tail" in report.cut[0]


def test_a_later_segment_moved_aside_is_said_too(tmp_path: Path) -> None:
    lines = v2_lines(4)
    write_segment(tmp_path, 1, lines[0] + b"\x00bitrot\n" + lines[1])
    write_segment(tmp_path, 3, b"".join(lines[2:]))
    with structlog.testing.capture_logs() as logs:
        repair_log(tmp_path)
    events = [e["event"] for e in _warnings(logs)]
    assert events == ["wal.repair.damaged_record_cut", "wal.repair.segment_moved"]
