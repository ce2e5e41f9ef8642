"""Reading a project's missions from their WALs: read-only, lock-free, torn tails tolerated."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.mission.store import (
    load_mission,
    mission_dir,
    mission_journal,
    survey_missions,
)
from opencode_orchestrator.wal import WriteAheadLog
from opencode_orchestrator.wal.errors import WalCorruptError
from opencode_orchestrator.wal.paths import list_segments, mission_wal_dir
from opencode_orchestrator.wal.registry import RecordRegistry
from tests.mission import journals

pytestmark = pytest.mark.anyio


async def test_a_mission_is_rebuilt_as_its_journal_left_it(tmp_path: Path) -> None:
    await journals.sealed_mission(tmp_path, "m1", goal="ship it")
    model = load_mission(tmp_path, "m1")
    assert (model.mission_id, model.goal, model.state) == ("m1", "ship it", MissionState.SEALED)
    u1 = model.units["u1"]
    assert (u1.state, u1.attempt, u1.failures) == (
        UnitState.VERIFIED,
        2,
        ("attempt 1: worker gave up",),
    )
    assert model.tokens == 1500
    assert model.sealed_evidence == {"all_units_verified": True}


async def test_a_mission_is_read_while_its_writer_holds_the_lock(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    journal = await journals.open_journal(tmp_path, "m1")  # takes the lock, as a run does
    try:
        await journals.verify_unit(journal, "u2")
        model = await anyio.to_thread.run_sync(load_mission, tmp_path, "m1")
    finally:
        await journal.close()
    assert model.state is MissionState.RUNNING
    assert model.counts() == {"verified": 2}


async def test_a_torn_tail_is_left_alone_and_the_records_before_it_count(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    wal_dir = mission_wal_dir(tmp_path, "m1")
    _first, segment = list_segments(wal_dir)[-1]
    before = segment.read_bytes()
    with segment.open("ab") as f:
        f.write(b'{"crc":"0000","seq":99,"ty')  # an append cut short
    model = load_mission(tmp_path, "m1")
    assert model.units["u2"].state is UnitState.DISPATCHED
    assert segment.read_bytes() == before + b'{"crc":"0000","seq":99,"ty'  # not cut: read-only


async def test_damage_before_the_tail_is_reported_not_skipped(tmp_path: Path) -> None:
    await journals.unfinished_mission(tmp_path, "m1")
    _first, segment = list_segments(mission_wal_dir(tmp_path, "m1"))[-1]
    lines = segment.read_bytes().split(b"\n")
    assert b'"a plan"' in lines[1]
    lines[1] = lines[1].replace(b'"a plan"', b'"A plan"')  # checksum no longer matches
    segment.write_bytes(b"\n".join(lines))
    with pytest.raises(WalCorruptError):
        load_mission(tmp_path, "m1")


@pytest.mark.parametrize("mission_id", ["nope", "../escape", ""])
async def test_an_unknown_or_invalid_id_is_not_found(tmp_path: Path, mission_id: str) -> None:
    with pytest.raises(MissionNotFoundError):
        load_mission(tmp_path, mission_id)


async def test_a_log_without_a_mission_is_not_a_mission(tmp_path: Path) -> None:
    registry = RecordRegistry()
    registry.register("demo.step")
    async with await WriteAheadLog.open(
        mission_wal_dir(tmp_path, "demo-crash"), registry=registry
    ) as wal:
        await wal.append("demo.step", {"n": 1})
    with pytest.raises(MissionNotFoundError, match="no mission has been recorded"):
        load_mission(tmp_path, "demo-crash")
    assert survey_missions(tmp_path).missions == []


async def test_missions_are_listed_oldest_first_and_the_newest_unfinished_found(
    tmp_path: Path,
) -> None:
    assert survey_missions(tmp_path).missions == []
    assert survey_missions(tmp_path).latest_unfinished() is None
    await journals.unfinished_mission(tmp_path, "old", created_at=1000.0)
    await journals.planning_mission(tmp_path, "newer", created_at=2000.0)
    await journals.sealed_mission(tmp_path, "newest", created_at=3000.0)
    missions = survey_missions(tmp_path).missions
    assert [(m.mission_id, m.state) for m in missions] == [
        ("old", MissionState.RUNNING),
        ("newer", MissionState.PLANNING),
        ("newest", MissionState.SEALED),
    ]
    assert (missions[0].units, missions[0].verified) == (2, 1)
    assert missions[0].updated_at >= missions[0].created_at
    assert survey_missions(tmp_path).latest_unfinished() == "newer"


def test_the_mission_directory_holds_the_wal(tmp_path: Path) -> None:
    assert mission_wal_dir(tmp_path, "m1").parent == mission_dir(tmp_path, "m1")


def test_a_mission_directory_names_its_journal(tmp_path: Path) -> None:
    wal = mission_wal_dir(tmp_path, "m1")
    assert mission_journal(mission_dir(tmp_path, "m1")) == wal
