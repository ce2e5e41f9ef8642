"""Snapshots, compaction and replay, including crashes in the middle of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.wal import WalCorruptError
from opencode_orchestrator.wal.paths import list_segments, list_snapshots, snapshot_path
from opencode_orchestrator.wal.snapshot import encode_snapshot
from tests.wal.helpers import append_n, open_wal, replay, v2_lines, write_segment

pytestmark = pytest.mark.anyio


async def test_snapshot_compacts_and_replays_snapshot_plus_later_records(tmp_path: Path) -> None:
    async with await open_wal(tmp_path, segment_max_bytes=250) as wal:
        await append_n(wal, 30)
        segments_before = len(list_segments(tmp_path))
        assert await wal.snapshot({"count": 30}) == 30
        await append_n(wal, 5, start=30)
        assert await wal.snapshot({"count": 35}) == 35
        await append_n(wal, 2, start=35)
    assert segments_before > 3
    assert len(list_segments(tmp_path)) <= 2
    assert [seq for seq, _ in list_snapshots(tmp_path)] == [35]
    async with await open_wal(tmp_path) as wal:
        assert wal.recovery.snapshot_state == {"count": 35}
        assert wal.recovery.snapshot_seq == 35
        assert [r.data for r in wal.recovery.records] == [{"i": 35}, {"i": 36}]
        assert [r.seq for r in wal.recovery.records] == [36, 37]
        assert (await wal.append("t", {})).seq == 38


async def test_crash_after_temp_file_leaves_the_old_state(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        await append_n(wal, 3)
    temporary = snapshot_path(tmp_path, 3).with_name(snapshot_path(tmp_path, 3).name + ".tmp")
    temporary.write_bytes(encode_snapshot(3, {"half": "written"})[:10])
    async with await open_wal(tmp_path) as wal:
        assert wal.recovery.snapshot_state is None
        assert len(wal.recovery.records) == 3
    assert not temporary.exists()


async def test_crash_before_compaction_tolerates_covered_segments(tmp_path: Path) -> None:
    lines = v2_lines(6)
    write_segment(tmp_path, 1, b"".join(lines[:2]))
    write_segment(tmp_path, 3, b"".join(lines[2:4]))
    write_segment(tmp_path, 5, b"".join(lines[4:]))
    snapshot_path(tmp_path, 4).write_bytes(encode_snapshot(4, {"upto": 4}))
    async with await open_wal(tmp_path) as wal:
        assert wal.recovery.snapshot_state == {"upto": 4}
        assert [r.seq for r in wal.recovery.records] == [5, 6]
    # Reopening finished the interrupted compaction.
    assert [first for first, _ in list_segments(tmp_path)] == [5]


async def test_snapshot_newer_than_every_record_starts_a_fresh_segment(tmp_path: Path) -> None:
    write_segment(tmp_path, 1, b"".join(v2_lines(2)))
    snapshot_path(tmp_path, 5).write_bytes(encode_snapshot(5, {"upto": 5}))
    async with await open_wal(tmp_path) as wal:
        assert wal.recovery.records == []
        assert (await wal.append("t", {})).seq == 6
    async with await open_wal(tmp_path) as wal:
        assert [r.seq for r in wal.recovery.records] == [6]


async def test_invalid_newest_snapshot_falls_back_when_segments_still_cover(tmp_path: Path) -> None:
    write_segment(tmp_path, 1, b"".join(v2_lines(4)))
    snapshot_path(tmp_path, 2).write_bytes(encode_snapshot(2, {"upto": 2}))
    damaged = bytearray(encode_snapshot(3, {"upto": 3}))
    damaged[20] ^= 0xFF
    snapshot_path(tmp_path, 3).write_bytes(bytes(damaged))
    async with await open_wal(tmp_path) as wal:
        assert wal.recovery.snapshot_state == {"upto": 2}
        assert [r.seq for r in wal.recovery.records] == [3, 4]


async def test_invalid_snapshot_with_compacted_segments_is_refused(tmp_path: Path) -> None:
    write_segment(tmp_path, 5, b"".join(v2_lines(2, first_seq=5)))
    damaged = bytearray(encode_snapshot(4, {"upto": 4}))
    damaged[-5] ^= 0x01
    snapshot_path(tmp_path, 4).write_bytes(bytes(damaged))
    with pytest.raises(WalCorruptError, match="missing"):
        await open_wal(tmp_path)


async def test_snapshot_includes_records_appended_but_not_yet_flushed(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        await append_n(wal, 2)
        assert await wal.snapshot({"n": 2}) == 2
    assert await replay(tmp_path) == []
