"""A mission whose log cannot be read is surveyed as unreadable, never left out silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.mission.store import (
    load_mission,
    survey_missions,
)
from opencode_orchestrator.wal.errors import WalError
from opencode_orchestrator.wal.lock import DirectoryLock
from opencode_orchestrator.wal.paths import list_segments, mission_wal_dir
from tests.mission import journals

pytestmark = pytest.mark.anyio


def damage_line(project: Path, mission_id: str, index: int) -> None:
    """Flip a bit in line ``index`` of the mission's log, with valid lines after it."""
    _first, segment = list_segments(mission_wal_dir(project, mission_id))[0]
    lines = segment.read_bytes().split(b"\n")
    assert len(lines) > index + 2  # valid lines follow: corruption, not a torn tail
    line = bytearray(lines[index])
    line[len(line) // 2] ^= 0x01
    lines[index] = bytes(line)
    segment.write_bytes(b"\n".join(lines))


async def test_a_damaged_mission_is_surveyed_with_what_its_readable_records_say(
    tmp_path: Path,
) -> None:
    await journals.unfinished_mission(tmp_path, "m1", goal="ship it", created_at=1000.0)
    damage_line(tmp_path, "m1", 4)  # after mission.created, plan and "running"
    survey = survey_missions(tmp_path)
    assert survey.missions == []
    [unreadable] = survey.unreadable
    journal = mission_wal_dir(tmp_path, "m1")
    assert (unreadable.mission_id, unreadable.journal, unreadable.code) == (
        "m1",
        journal,
        "wal.corrupt",
    )
    assert "seg-00000000000000000001.jsonl: byte " in unreadable.error
    assert (unreadable.goal, unreadable.last_state, unreadable.created_at) == (
        "ship it",
        MissionState.RUNNING,
        1000.0,
    )
    assert unreadable.looks_unfinished
    assert unreadable.commands == [
        f"opencode-orchestrator wal verify {journal}",
        f"opencode-orchestrator wal repair {journal}",
    ]
    assert survey.unreadable_unfinished == [unreadable]
    assert survey.unreadable_newer_unfinished() == [unreadable]  # nothing readable to compare


async def test_damage_in_the_first_record_leaves_nothing_known(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    damage_line(tmp_path, "m1", 0)
    [unreadable] = survey_missions(tmp_path).unreadable
    assert (unreadable.goal, unreadable.last_state, unreadable.created_at) == ("", None, None)
    assert unreadable.looks_unfinished


async def test_an_older_damaged_mission_does_not_hide_the_newest_unfinished_one(
    tmp_path: Path,
) -> None:
    await journals.unfinished_mission(tmp_path, "old", created_at=1000.0)
    damage_line(tmp_path, "old", 4)
    await journals.planning_mission(tmp_path, "new", created_at=2000.0)
    survey = survey_missions(tmp_path)
    assert [m.mission_id for m in survey.missions] == ["new"]
    assert [m.mission_id for m in survey.unreadable_unfinished] == ["old"]
    assert survey.unreadable_newer_unfinished() == []
    assert survey.latest_unfinished() == "new"


async def test_a_newer_damaged_mission_may_be_the_newest_unfinished_one(tmp_path: Path) -> None:
    await journals.planning_mission(tmp_path, "old", created_at=1000.0)
    await journals.unfinished_mission(tmp_path, "new", created_at=2000.0)
    damage_line(tmp_path, "new", 4)
    survey = survey_missions(tmp_path)
    assert [m.mission_id for m in survey.unreadable_newer_unfinished()] == ["new"]


async def test_a_log_whose_every_segment_is_gone_is_unreadable_not_absent(
    tmp_path: Path,
) -> None:
    await journals.sealed_mission(tmp_path, "m1")
    journal = mission_wal_dir(tmp_path, "m1")
    for _first, segment in list_segments(journal):
        segment.unlink()
    with pytest.raises(WalError, match="holds no segment") as info:
        load_mission(tmp_path, "m1")
    assert not isinstance(info.value, MissionNotFoundError)
    [unreadable] = survey_missions(tmp_path).unreadable
    assert unreadable.code == "wal"
    assert unreadable.commands == [f"opencode-orchestrator wal verify {journal}"]  # no salvage


async def test_a_log_being_opened_right_now_is_not_taken_for_a_lost_one(tmp_path: Path) -> None:
    journal = mission_wal_dir(tmp_path, "m1")
    journal.mkdir(parents=True)
    lock = DirectoryLock.acquire(journal)  # an opener holds the lock before its first segment
    try:
        with pytest.raises(MissionNotFoundError):
            load_mission(tmp_path, "m1")
        assert survey_missions(tmp_path).unreadable == []
    finally:
        lock.release()
