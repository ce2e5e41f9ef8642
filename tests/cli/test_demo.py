"""``demo``: a whole mission on the in-process simulator, run through ``main``."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from opencode_orchestrator.cli import main
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import load_mission, survey_missions


def _printed_path(out: str, label: str) -> Path:
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    return Path(line.split(maxsplit=1)[1].strip())


def test_demo_seals_a_mission_and_the_paths_it_prints_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--project", str(tmp_path), "--units", "8"]) == 0
    out, err = capsys.readouterr()
    assert "SEALED: every seal condition verified" in out
    assert "8 of 8 verified" in out
    assert "provider rate-limit retries ridden out" in out
    wal = _printed_path(out, "wal ")
    report_md = _printed_path(out, "report ")
    report_json = report_md.with_name("report.json")
    assert wal.is_dir()
    assert report_md.is_file()
    assert f"            {report_json}" in out
    mission_id = next(line for line in out.splitlines() if line.startswith("mission ")).split()[1]
    assert f"opencode-orchestrator status {mission_id} --project {tmp_path}" in out
    assert orjson.loads(report_json.read_bytes())["state"] == "sealed"
    assert load_mission(tmp_path, mission_id).state is MissionState.SEALED
    assert [m.mission_id for m in survey_missions(tmp_path).missions] == [mission_id]
    assert "verified 8/8" in err  # the live progress went to stderr
