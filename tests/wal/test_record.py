"""The record codec: framing, checksum, decoding and the version upgrade chain."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from opencode_orchestrator.wal.record import (
    CURRENT_VERSION,
    InvalidLineError,
    Record,
    UnsupportedVersionError,
    decode_line,
    encode_record,
    frame,
    frame_is_valid,
    new_record,
)
from tests.wal.helpers import future_line, v1_line


def test_round_trip_keeps_every_field() -> None:
    line = encode_record(7, 1.5, "mission.created", {"goal": "ship", "n": [1, 2]})
    assert line.endswith(b"\n")
    record = decode_line(line[:-1])
    assert record == Record(
        CURRENT_VERSION, 7, 1.5, "mission.created", {"goal": "ship", "n": [1, 2]}
    )


def test_new_record_is_a_plain_frozen_record() -> None:
    # new_record builds its twin and retypes it: the result must be a Record in every way.
    record = new_record(9, 2.5, "t", {"k": [1]})
    expected = Record(CURRENT_VERSION, 9, 2.5, "t", {"k": [1]})
    assert type(record) is Record
    assert record == expected
    assert repr(record) == repr(expected)
    assert dataclasses.astuple(record) == (CURRENT_VERSION, 9, 2.5, "t", {"k": [1]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.seq = 10  # type: ignore[misc]


def test_line_is_canonical_json_with_crc_first() -> None:
    line = encode_record(1, 2.0, "t", {"b": 1, "a": 2})
    assert line.startswith(b'{"crc":"')
    obj = orjson.loads(line)
    assert list(obj) == ["crc", "data", "seq", "ts", "type", "v"]
    assert list(obj["data"]) == ["a", "b"]


@pytest.mark.parametrize("position", [0, 5, 12, 20, 40, -3])
def test_any_altered_byte_is_detected(position: int) -> None:
    line = bytearray(encode_record(3, 4.0, "t", {"payload": "abcdefgh"})[:-1])
    line[position] ^= 0x01
    assert not frame_is_valid(bytes(line))
    with pytest.raises(InvalidLineError):
        decode_line(bytes(line))


def test_truncated_line_is_invalid() -> None:
    line = encode_record(3, 4.0, "t", {"x": 1})[:-1]
    for cut in range(len(line)):
        assert not frame_is_valid(line[:cut])


def test_version_1_is_upgraded() -> None:
    line = v1_line(4, "task.done", {"ok": True}, "2024-01-02T03:04:05+00:00")
    record = decode_line(line[:-1])
    assert record == Record(2, 4, 1704164645.0, "task.done", {"ok": True})


@pytest.mark.parametrize("version", [0, 3, 99, "2"])
def test_unknown_versions_fail_closed(version: object) -> None:
    body = orjson.dumps({"data": {}, "seq": 1, "ts": 1.0, "type": "t", "v": version})

    with pytest.raises(UnsupportedVersionError) as info:
        decode_line(frame(body))
    assert info.value.version == version


def test_future_version_helper_matches_decoder() -> None:
    with pytest.raises(UnsupportedVersionError):
        decode_line(future_line(1, CURRENT_VERSION + 1)[:-1])


@pytest.mark.parametrize(
    "fields",
    [
        {"data": {}, "seq": 0, "ts": 1.0, "type": "t", "v": 2},
        {"data": [], "seq": 1, "ts": 1.0, "type": "t", "v": 2},
        {"data": {}, "seq": 1, "ts": "x", "type": "t", "v": 2},
        {"data": {}, "seq": 1, "ts": 1.0, "type": 5, "v": 2},
        {"data": {}, "seq": True, "ts": 1.0, "type": "t", "v": 2},
    ],
)
def test_malformed_fields_are_invalid(fields: dict[str, object]) -> None:

    with pytest.raises(InvalidLineError):
        decode_line(frame(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)))
