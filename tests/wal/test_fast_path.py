"""The append fast path: the registry shortcut and the mid-burst hand-off."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pydantic
import pytest

from opencode_orchestrator.wal import RecordRegistry, WalInvalidPayloadError, WriteAheadLog
from opencode_orchestrator.wal.flusher import SPLIT_AT
from opencode_orchestrator.wal.writer import SegmentWriter
from tests.wal.helpers import open_wal, replay

pytestmark = pytest.mark.anyio


class _Dict(dict[str, Any]):
    """A dict subclass: not the plain-dict shortcut, still a JSON object."""


async def test_the_shortcut_never_skips_a_model_or_a_later_registration(tmp_path: Path) -> None:
    class Created(pydantic.BaseModel):
        goal: str

    registry = RecordRegistry(["t"])
    registry.register("created", Created)
    async with await WriteAheadLog.open(tmp_path, registry=registry) as wal:
        with pytest.raises(WalInvalidPayloadError):
            await wal.append("created", _Dict(goal=3.5))
        assert (await wal.append("t", _Dict(x=1))).data == {"x": 1}
        registry.register("late")  # after open: the log sees it
        assert (await wal.append("late", {"y": 2})).seq == 2
        assert "late" in registry.unchecked
        assert "created" not in registry.unchecked


@pytest.mark.parametrize("write_delay", [0.0, 0.0005, 0.003])
async def test_hand_off_acks_only_written_records_whatever_the_write_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_delay: float
) -> None:
    # Delays below and above HANDOFF_TIMEOUT: the loop blocks for a busy
    # flusher or gives up waiting; either way no ack may precede its write.
    written_below = 1
    original = SegmentWriter.write_batch

    def slow_write(self: SegmentWriter, payload: bytes, *, sync: bool, next_seq: int) -> None:
        nonlocal written_below
        time.sleep(write_delay)
        original(self, payload, sync=sync, next_seq=next_seq)
        written_below = next_seq

    monkeypatch.setattr(SegmentWriter, "write_batch", slow_write)
    appenders, rounds = 2 * SPLIT_AT + 3, 5
    async with await open_wal(tmp_path) as wal:

        async def appender(n: int) -> None:
            for k in range(rounds):
                record = await wal.append("t", {"n": n, "k": k})
                assert record.seq < written_below

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for n in range(appenders):
                    tg.start_soon(appender, n)
        stats = wal.stats
    assert stats.appends == appenders * rounds
    assert stats.fsyncs == stats.batches < stats.appends
    replayed = await replay(tmp_path)
    assert len(replayed) == appenders * rounds
    for n in range(appenders):
        assert [d["k"] for d in replayed if d["n"] == n] == list(range(rounds))


async def test_a_batch_written_before_its_hand_off_returns_still_acks_everyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write that keeps the GIL (here: kept in memory) is over before the
    # loop is back from the hand-off that sealed its batch: the appender that
    # handed off must be among that batch's waiters all the same.
    written: list[bytes] = []

    def instant_write(
        self: SegmentWriter, payload: bytes | bytearray, *, sync: bool, next_seq: int
    ) -> None:
        written.append(bytes(payload))

    monkeypatch.setattr(SegmentWriter, "write_batch", instant_write)
    appenders, rounds = 2 * SPLIT_AT + 3, 20
    async with await open_wal(tmp_path) as wal:

        async def appender(n: int) -> None:
            for k in range(rounds):
                await wal.append("t", {"n": n, "k": k})

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for n in range(appenders):
                    tg.start_soon(appender, n)
    assert sum(chunk.count(b"\n") for chunk in written) == appenders * rounds
