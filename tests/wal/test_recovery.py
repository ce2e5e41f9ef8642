"""Recovery on open: torn tails are cut and kept, everything else is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from opencode_orchestrator.wal import (
    RecordRegistry,
    WalCorruptError,
    WalUnknownRecordTypeError,
    WalVersionError,
)
from opencode_orchestrator.wal.paths import list_segments, segment_path
from tests.wal.helpers import (
    append_n,
    future_line,
    only_segment,
    open_wal,
    replay,
    v1_line,
    v2_lines,
    write_segment,
)

pytestmark = pytest.mark.anyio


async def _log_of(directory: Path, count: int) -> bytes:
    async with await open_wal(directory) as wal:
        await append_n(wal, count)
    return only_segment(directory).read_bytes()


async def test_torn_tail_at_every_byte_offset_keeps_the_valid_prefix(tmp_path: Path) -> None:
    original = await _log_of(tmp_path / "source", 4)
    line_ends = [i + 1 for i, byte in enumerate(original) if byte == ord("\n")]
    for offset in range(len(original) + 1):
        directory = tmp_path / f"cut{offset}"
        write_segment(directory, 1, original[:offset])
        complete = sum(1 for end in line_ends if end <= offset)
        kept_bytes = line_ends[complete - 1] if complete else 0
        async with await open_wal(directory) as wal:
            assert [r.data for r in wal.recovery.records] == [{"i": i} for i in range(complete)]
            tail = wal.recovery.truncated_tail
            if offset == kept_bytes:
                assert tail is None
            else:
                assert tail is not None
                assert tail.offset == kept_bytes
                assert tail.broken_path.read_bytes() == original[kept_bytes:offset]
            # The log stays usable and consecutive after the cut.
            record = await wal.append("t", {"i": "next"})
            assert record.seq == complete + 1
        assert only_segment(directory).read_bytes().startswith(original[:kept_bytes])
        expected = [{"i": i} for i in range(complete)] + [{"i": "next"}]
        assert await replay(directory) == expected


@pytest.mark.parametrize(
    ("tail", "name"),
    [(b"\x00" * 300, "zeros"), (b"#!garbage\xff\xfe not json", "garbage"), (b'{"crc":"00', "torn")],
)
async def test_garbage_and_zero_tails_are_cut_into_broken(
    tmp_path: Path, tail: bytes, name: str
) -> None:
    good = await _log_of(tmp_path / name, 3)
    segment = only_segment(tmp_path / name)
    segment.write_bytes(good + tail)
    with structlog.testing.capture_logs() as logs:
        payloads = await replay(tmp_path / name)
    assert payloads == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert segment.read_bytes() == good
    assert segment.with_name(segment.name + ".broken").read_bytes() == tail
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["wal.tail_truncated"]


async def test_zeros_with_newlines_then_nothing_valid_is_a_tail(tmp_path: Path) -> None:
    good = await _log_of(tmp_path, 2)
    only_segment(tmp_path).write_bytes(good + b"\x00\x00\n\x00\n" + good[:10])
    assert await replay(tmp_path) == [{"i": 0}, {"i": 1}]


async def test_bit_flip_in_the_middle_is_refused_with_offset(tmp_path: Path) -> None:
    good = bytearray(await _log_of(tmp_path, 5))
    second = good.index(b"\n") + 1
    good[second + 30] ^= 0x04
    segment = only_segment(tmp_path)
    segment.write_bytes(bytes(good))
    with pytest.raises(WalCorruptError) as info:
        await open_wal(tmp_path)
    assert info.value.path == segment
    assert info.value.offset == second
    message = str(info.value)
    assert str(segment) in message
    assert f"byte {second}" in message
    assert f"opencode-orchestrator wal repair {tmp_path}" in message
    assert segment.read_bytes() == bytes(good)  # refused means untouched


async def test_seq_gap_is_corruption(tmp_path: Path) -> None:
    lines = v2_lines(4)
    write_segment(tmp_path, 1, lines[0] + lines[1] + lines[3])
    with pytest.raises(WalCorruptError, match="seq 4 where 3 was due"):
        await open_wal(tmp_path)


async def test_missing_first_segment_is_corruption(tmp_path: Path) -> None:
    write_segment(tmp_path, 3, b"".join(v2_lines(2, first_seq=3)))
    with pytest.raises(WalCorruptError, match=r"records 1\.\.2 are missing"):
        await open_wal(tmp_path)


async def test_bad_earlier_segment_is_corruption_even_at_its_end(tmp_path: Path) -> None:
    lines = v2_lines(4)
    write_segment(tmp_path, 1, lines[0] + lines[1][:-5])
    write_segment(tmp_path, 3, lines[2] + lines[3])
    with pytest.raises(WalCorruptError) as info:
        await open_wal(tmp_path)
    assert info.value.path == segment_path(tmp_path, 1)
    assert info.value.offset == len(lines[0])


async def test_segments_replay_in_order_across_rotation(tmp_path: Path) -> None:
    async with await open_wal(tmp_path, segment_max_bytes=300) as wal:
        await append_n(wal, 20)
    assert len(list_segments(tmp_path)) > 3
    assert await replay(tmp_path) == [{"i": i} for i in range(20)]


async def test_version_1_log_is_read_and_extended(tmp_path: Path) -> None:
    write_segment(
        tmp_path,
        1,
        v1_line(1, "mission.created", {"goal": "g"}, "2024-05-01T00:00:00+00:00")
        + v1_line(2, "task.done", {"task": 1}, "2024-05-01T00:00:01.5+00:00"),
    )
    async with await open_wal(tmp_path) as wal:
        records = wal.recovery.records
        assert [(r.v, r.seq, r.type, r.data) for r in records] == [
            (2, 1, "mission.created", {"goal": "g"}),
            (2, 2, "task.done", {"task": 1}),
        ]
        assert records[1].ts == pytest.approx(1714521601.5)
        assert (await wal.append("t", {"after": "upgrade"})).seq == 3
    assert await replay(tmp_path) == [{"goal": "g"}, {"task": 1}, {"after": "upgrade"}]


async def test_future_version_fails_closed_naming_file_offset_value(tmp_path: Path) -> None:
    lines = v2_lines(2)
    path = write_segment(tmp_path, 1, lines[0] + lines[1] + future_line(3, 7))
    with pytest.raises(WalVersionError) as info:
        await open_wal(tmp_path)
    assert (info.value.path, info.value.offset, info.value.version) == (
        path,
        len(lines[0]) + len(lines[1]),
        7,
    )
    assert "7" in str(info.value)
    assert str(path) in str(info.value)


async def test_unknown_type_fails_closed(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        await wal.append("mission.created", {})
    with pytest.raises(WalUnknownRecordTypeError) as info:
        await open_wal(tmp_path, registry=RecordRegistry(["t"]))
    assert info.value.record_type == "mission.created"
    assert info.value.offset == 0
    assert info.value.path == only_segment(tmp_path)


async def test_recovered_records_are_handed_over_once_and_appends_go_on(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        await append_n(wal, 5)
    async with await open_wal(tmp_path) as wal:
        taken = wal.take_records()
        assert [r.data for r in taken] == [{"i": i} for i in range(5)]
        # The log keeps no reference; where it goes on is unaffected.
        assert wal.recovery.records == []
        assert wal.take_records() == []
        assert wal.recovery.last_seq == taken[-1].seq
        record = await wal.append("t", {"i": 5})
        assert record.seq == taken[-1].seq + 1
    assert await replay(tmp_path) == [{"i": i} for i in range(6)]
