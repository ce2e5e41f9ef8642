"""A mission the core runs writes its report when it ends, however it ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from opencode_orchestrator.core.missions import running
from opencode_orchestrator.mission.report import ReportPaths
from opencode_orchestrator.mission.store import mission_dir
from tests.core.missions.harness import core_session, disk_model
from tests.mission.enginesupport import GOAL, sim_config, simulated

pytestmark = pytest.mark.anyio

HANG = sim_config(faults={"hang_rate": 1.0})


def _ends(progress: list[dict[str, Any]], mission_id: str) -> list[dict[str, Any]]:
    """The notifications of the mission's end."""
    return [
        p
        for p in progress
        if p["missionId"] == mission_id and p["kind"] == "phase" and p["state"] == "SEALED"
    ]


def _report(project: Path, mission_id: str) -> dict[str, object]:
    directory = mission_dir(project, mission_id)
    for name in ("report.md", "report.html"):
        assert (directory / name).is_file(), name
    document: dict[str, object] = orjson.loads((directory / "report.json").read_bytes())
    return document


async def test_a_sealed_mission_has_its_report_when_the_end_is_announced(tmp_path: Path) -> None:
    async with simulated(tmp_path) as sim, core_session(sim) as shim:
        mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
        await shim.wait_state(mid, "SEALED")
        # Written before the notification of the end went out: no waiting needed.
        report = _report(sim.project, mid)
        # The end: a toast, then the post into the mission's session, which says
        # where the report is (relative to the project).
        await shim.wait_for(lambda: len(_ends(shim.progress, mid)) == 2)
        toast, post = _ends(shim.progress, mid)
        assert (toast["toast"], toast["post"], post["toast"], post["post"]) == (
            True,
            False,
            False,
            True,
        )
        relative = Path(".opencode", "orchestrator", "missions", mid, "report.html")
        assert post["text"] == f"{toast['text']}\nReport: {relative}"
        assert (sim.project / relative).is_file()
        assert "Report" not in toast["text"]
        assert report["state"] == "sealed"
        assert report["timeline"]
        html = (mission_dir(sim.project, mid) / "report.html").read_text()
        assert "<svg" in html
        assert "SEALED" in html


async def test_a_cancelled_mission_has_its_report_too(tmp_path: Path) -> None:
    async with simulated(tmp_path, HANG) as sim, core_session(sim) as shim:
        mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
        await shim.call("mission/cancel", {"missionId": mid})
        await shim.wait_state(mid, "CANCELLED")
        report = _report(sim.project, mid)
        assert report["state"] == "cancelled"
        assert report["reason"] == "cancelled on request"


async def test_a_report_that_fails_is_logged_and_the_mission_still_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(directory: Path) -> ReportPaths:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(running, "write_report", broken)
    with capture_logs() as logs:
        async with simulated(tmp_path) as sim, core_session(sim) as shim:
            mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
            note = await shim.wait_state(mid, "SEALED")
            assert note["level"] == "info"
            # No report to point to: the end is one toast and post, as any phase.
            assert (note["kind"], note["toast"], note["post"]) == ("phase", True, True)
            assert "Report" not in note["text"]
    assert disk_model(sim.project, mid).state.value == "sealed"
    assert not (mission_dir(sim.project, mid) / "report.json").exists()
    failed = [entry for entry in logs if entry["event"] == "mission.report.failed"]
    assert [entry["mission"] for entry in failed] == [mid]
    assert failed[0]["log_level"] == "error"


FAILING = sim_config(planner={"units": 1}, worker={"tool_error_rate": 1.0})
"""Every attempt of the one unit fails: the mission ends FAILED."""


async def test_a_failed_mission_has_its_report_with_what_went_wrong(tmp_path: Path) -> None:
    async with simulated(tmp_path, FAILING) as sim, core_session(sim) as shim:
        mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
        await shim.wait_state(mid, "FAILED")
        report = _report(sim.project, mid)
        assert report["state"] == "failed"
        units = report["units"]
        assert isinstance(units, list)
        [unit] = units
        assert unit["state"] == "failed"
        assert len(unit["failures"]) == 3  # one per attempt, each with its reason
        directory = mission_dir(sim.project, mid)
        markdown = (directory / "report.md").read_text()
        assert markdown.startswith(f"# Mission {mid}: FAILED\n")
        assert f"### {unit['id']}: " in markdown  # a unit with a problem is detailed
        assert "<details open>" in (directory / "report.html").read_text()
