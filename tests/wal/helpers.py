"""Shared helpers for the WAL tests: registries, hand-made segments, replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from opencode_orchestrator.wal import Durability, RecordRegistry, WriteAheadLog
from opencode_orchestrator.wal.paths import list_segments, segment_path
from opencode_orchestrator.wal.record import encode_record, frame

TYPES = ("t", "mission.created", "task.done")


def make_registry() -> RecordRegistry:
    return RecordRegistry(TYPES)


async def open_wal(directory: Path, **kwargs: Any) -> WriteAheadLog:
    kwargs.setdefault("registry", make_registry())
    kwargs.setdefault("durability", Durability.ALWAYS)
    return await WriteAheadLog.open(directory, **kwargs)


async def append_n(wal: WriteAheadLog, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        await wal.append("t", {"i": i})


async def replay(directory: Path, **kwargs: Any) -> list[dict[str, Any]]:
    """Open, collect the payloads replayed after the snapshot, close."""
    async with await open_wal(directory, **kwargs) as wal:
        return [r.data for r in wal.recovery.records]


def only_segment(directory: Path) -> Path:
    segments = list_segments(directory)
    assert len(segments) == 1, segments
    return segments[0][1]


def v2_lines(count: int, first_seq: int = 1) -> list[bytes]:
    return [
        encode_record(seq, 1_700_000_000.0 + seq, "t", {"i": seq - 1})
        for seq in range(first_seq, first_seq + count)
    ]


def v1_line(seq: int, kind: str, payload: dict[str, Any], time: str) -> bytes:
    body = orjson.dumps(
        {"kind": kind, "payload": payload, "seq": seq, "time": time, "v": 1},
        option=orjson.OPT_SORT_KEYS,
    )
    return frame(body) + b"\n"


def future_line(seq: int, version: int) -> bytes:
    body = orjson.dumps(
        {"data": {}, "seq": seq, "ts": 1.0, "type": "t", "v": version},
        option=orjson.OPT_SORT_KEYS,
    )
    return frame(body) + b"\n"


def write_segment(directory: Path, first_seq: int, content: bytes) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = segment_path(directory, first_seq)
    path.write_bytes(content)
    return path
