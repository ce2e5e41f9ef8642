"""Following a journal another writer appends to: only the new records, torn tails waited out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.follow import JournalFollower
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.records import MISSION_REGISTRY
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.mission.store import read_journal
from opencode_orchestrator.wal.errors import WalCorruptError
from opencode_orchestrator.wal.log import Durability, WriteAheadLog
from opencode_orchestrator.wal.paths import list_segments, mission_wal_dir
from tests.mission import journals

pytestmark = pytest.mark.anyio

MISSION = "m-follow"


def _segment(directory: Path) -> Path:
    return list_segments(directory)[-1][1]


async def test_each_poll_folds_only_what_was_appended_into_the_same_model(tmp_path: Path) -> None:
    journal = await journals.open_journal(tmp_path, MISSION)  # holds the lock throughout
    follower = JournalFollower(journal.directory)
    try:
        first = follower.poll()
        assert not first.created  # the log exists, no record yet
        await journals.create(journal, MISSION, tmp_path)
        await journals.plan(journal, ["u1", "u2"])
        model = follower.poll()
        assert model is first
        assert model.state is MissionState.RUNNING
        assert model == read_journal(journal.directory)
        await journals.start_unit(journal, "u1")
        assert follower.poll().units["u1"].state is UnitState.DISPATCHED
        assert follower.poll() == read_journal(journal.directory)  # nothing new: no change
        await journals.verify_unit(journal, "u1")
        await journals.start_unit(journal, "u2")
        await journals.verify_unit(journal, "u2")
        await journals.seal(journal)
        model = follower.poll()
        assert model is first
        assert model.state is MissionState.SEALED
        assert model == read_journal(journal.directory)
    finally:
        await journal.close()


async def test_a_line_still_being_appended_is_read_once_it_is_whole(tmp_path: Path) -> None:
    await journals.sealed_mission(tmp_path, MISSION)
    source = mission_wal_dir(tmp_path, MISSION)
    data = _segment(source).read_bytes()
    copy = tmp_path / "copy"
    copy.mkdir()
    target = copy / _segment(source).name
    follower = JournalFollower(copy)
    seen: list[MissionState] = []
    for end in range(0, len(data) + 97, 97):  # cuts that fall mid-line, again and again
        target.write_bytes(data[:end])
        seen.append(follower.poll().state)
    assert follower.model == read_journal(source)
    assert seen[-1] is MissionState.SEALED
    assert MissionState.RUNNING in seen


async def test_the_next_segment_is_followed_when_the_log_rolls_over(tmp_path: Path) -> None:
    directory = mission_wal_dir(tmp_path, MISSION)
    wal = await WriteAheadLog.open(
        directory, durability=Durability.NONE, registry=MISSION_REGISTRY, segment_max_bytes=600
    )
    journal = Journal(wal, MissionModel())
    follower = JournalFollower(directory)
    try:
        await journals.create(journal, MISSION, tmp_path)
        await journals.plan(journal, ["u1", "u2", "u3"])
        follower.poll()
        for unit in ("u1", "u2", "u3"):
            await journals.start_unit(journal, unit)
            follower.poll()
            await journals.verify_unit(journal, unit)
        await journals.seal(journal)
        model = follower.poll()
    finally:
        await journal.close()
    assert len(list_segments(directory)) > 3
    assert model == read_journal(directory)
    assert model.state is MissionState.SEALED


async def test_a_torn_tail_is_waited_out_until_a_resume_cuts_it(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, MISSION)
    directory = mission_wal_dir(tmp_path, MISSION)
    follower = JournalFollower(directory)
    before = follower.poll()
    segment = _segment(directory)
    with segment.open("ab") as out:
        out.write(b'{"crc":"00000000","half a record of a crash\n')
    assert follower.poll() == before  # nothing valid after it: a torn tail, not damage
    # The writer's recovery cuts the tail and appends where it began.
    journal = await journals.open_journal(tmp_path, MISSION)
    try:
        await journals.verify_unit(journal, "u2")
        await journals.seal(journal)
    finally:
        await journal.close()
    model = follower.poll()
    assert model.state is MissionState.SEALED
    assert model == read_journal(directory)


async def test_damage_before_the_tail_is_an_error(tmp_path: Path) -> None:
    await journals.sealed_mission(tmp_path, MISSION)
    directory = mission_wal_dir(tmp_path, MISSION)
    segment = _segment(directory)
    lines = segment.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b'"unit"', b'"UNIT"', 1)
    segment.write_bytes(b"\n".join(lines))
    with pytest.raises(WalCorruptError, match="corrupt at byte"):
        JournalFollower(directory).poll()


async def test_a_log_replaced_under_the_follower_is_read_again(tmp_path: Path) -> None:
    await journals.sealed_mission(tmp_path, MISSION)
    await journals.unfinished_mission(tmp_path, "m-other")
    directory = mission_wal_dir(tmp_path, MISSION)
    follower = JournalFollower(directory)
    assert follower.poll().state is MissionState.SEALED
    # A shorter log under the same name (a repair, say): not a continuation.
    other = mission_wal_dir(tmp_path, "m-other")
    shutil.copyfile(_segment(other), _segment(directory))
    model = follower.poll()
    assert model.mission_id == "m-other"
    assert model == read_journal(other)


async def test_a_missing_journal_is_no_mission(tmp_path: Path) -> None:
    with pytest.raises(MissionNotFoundError):
        JournalFollower(tmp_path / "nowhere").poll()
