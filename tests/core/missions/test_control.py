"""Status, resume and auto-resume over the registry, on journals written by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from opencode_orchestrator.core.errors import MissionEndedError, MissionNotFoundError
from opencode_orchestrator.core.missions import control
from opencode_orchestrator.core.missions.registry import MissionRegistry
from opencode_orchestrator.core.missions.views import STATUS_LIMIT, read_entry
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.store import mission_dir
from tests.mission import journals

pytestmark = pytest.mark.anyio


async def _mission(project: Path, mission_id: str, created_at: float, parent: str | None) -> None:
    journal = await journals.open_journal(project, mission_id)
    try:
        await journal.write(
            RecordType.MISSION_CREATED,
            {
                "mission_id": mission_id,
                "goal": f"goal of {mission_id}",
                "project": str(project),
                "parent_session": parent,
                "config": MissionConfig().model_dump(mode="json"),
                "created_at": created_at,
            },
        )
        await journals.plan(journal, ["u1"])
    finally:
        await journal.close()


async def _notify(method: str, params: dict[str, Any]) -> None:
    raise AssertionError(f"nothing to notify: {method} {params}")


@pytest.fixture
async def registry() -> AsyncIterator[MissionRegistry]:
    """A registry running no mission."""
    registry = MissionRegistry(_notify)
    async with anyio.create_task_group() as group:
        await group.start(registry.run)
        yield registry
        await registry.stop()


async def test_the_asking_sessions_mission_is_listed_even_when_older_than_the_newest(
    tmp_path: Path, registry: MissionRegistry
) -> None:
    ids = [f"m{i:02d}" for i in range(STATUS_LIMIT + 2)]  # m00 the oldest
    for index, mission_id in enumerate(ids):
        parent = "ses_mine" if mission_id == "m00" else None
        await _mission(tmp_path, mission_id, 1_700_000_000.0 + index, parent)

    result = await control.status(registry, tmp_path, None, "ses_mine")

    assert result.mission_id == "m00"
    assert result.text.startswith("### Mission m00 — RUNNING")
    newest = ids[::-1][:STATUS_LIMIT]
    assert [m.mission_id for m in result.missions] == [*newest, "m00"]
    assert result.text.endswith("\n- … and 1 older mission(s)")  # m01, neither shown nor listed


async def test_status_of_a_mission_not_running_here_reads_its_wal_once(
    tmp_path: Path, registry: MissionRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _mission(tmp_path, "m00", 1_700_000_000.0, None)
    reads: list[str] = []

    def counted(project: Path, mission_id: str) -> tuple[Any, MissionModel]:
        reads.append(mission_id)
        return read_entry(project, mission_id)

    monkeypatch.setattr(control, "read_entry", counted)
    result = await control.status(registry, tmp_path, "m00")
    assert result.text.startswith("### Mission m00 — RUNNING")
    assert "| u1 | PENDING |" in result.text
    assert reads == ["m00"]


async def test_an_ended_mission_found_without_its_report_gets_it(
    tmp_path: Path, registry: MissionRegistry
) -> None:
    # Ended, but the core that ran them stopped before writing their reports.
    await journals.sealed_mission(tmp_path, "m-bare")
    await journals.sealed_mission(tmp_path, "m-reported")
    kept = mission_dir(tmp_path, "m-reported") / "report.html"
    kept.write_text("the report written at its end")

    await control.auto_resume(registry, tmp_path)

    assert (mission_dir(tmp_path, "m-bare") / "report.html").is_file()
    assert (mission_dir(tmp_path, "m-bare") / "report.json").is_file()
    assert kept.read_text() == "the report written at its end"  # not written again


async def test_resuming_an_ended_mission_is_refused_and_writes_its_missing_report(
    tmp_path: Path, registry: MissionRegistry
) -> None:
    await journals.sealed_mission(tmp_path, "m-bare")
    with pytest.raises(MissionEndedError):
        await control.resume(registry, tmp_path, "m-bare")
    assert (mission_dir(tmp_path, "m-bare") / "report.html").is_file()


def _damage_first_record(project: Path, mission_id: str) -> None:
    segment = next((mission_dir(project, mission_id) / "wal").glob("seg-*.jsonl"))
    data = bytearray(segment.read_bytes())
    data[20] ^= 0x01  # inside the first record: its checksum no longer holds
    segment.write_bytes(bytes(data))


async def test_resume_without_an_id_will_not_guess_past_a_damaged_newer_mission(
    tmp_path: Path, registry: MissionRegistry
) -> None:
    # It answered with the older readable mission, as if the damaged one were not there.
    await _mission(tmp_path, "m00", 1_700_000_000.0, None)
    await _mission(tmp_path, "m01", 1_700_000_100.0, None)
    _damage_first_record(tmp_path, "m01")
    with pytest.raises(MissionNotFoundError) as caught:
        await control.resume(registry, tmp_path, None)
    message = caught.value.message
    assert "m01" in message
    assert "wal verify" in message
    assert "m00" not in message


async def test_auto_resume_tells_the_user_of_a_mission_whose_log_is_damaged(
    tmp_path: Path,
) -> None:
    # It was skipped without a word: the user waited for a mission that never came back.
    told: list[dict[str, Any]] = []
    arrived = anyio.Event()

    async def notify(method: str, params: dict[str, Any]) -> None:
        assert method == "mission/progress"
        told.append(params)
        arrived.set()

    await _mission(tmp_path, "m01", 1_700_000_100.0, None)
    _damage_first_record(tmp_path, "m01")
    registry = MissionRegistry(notify)
    async with anyio.create_task_group() as group:
        await group.start(registry.run)
        await control.auto_resume(registry, tmp_path)
        with anyio.fail_after(5):
            await arrived.wait()
        await registry.stop()
    [params] = told
    assert params["missionId"] == "m01"
    assert params["level"] == "warning"
    assert "could not be resumed" in params["text"]
    assert "wal verify" in params["text"]
