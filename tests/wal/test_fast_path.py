"""The append fast path: the registry shortcut, the mid-burst hand-off and the pacer."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pydantic
import pytest

from opencode_orchestrator.wal import RecordRegistry, WalInvalidPayloadError, WriteAheadLog, pacing
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


async def test_switching_batching_modes_under_load_acks_and_keeps_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pacer that decides after every write switches modes every few writes:
    # each switch to rounds holds a seal until the loop's round is over; none
    # may lose, reorder or strand an append.
    monkeypatch.setattr(pacing, "WINDOW_WRITES", 1)
    monkeypatch.setattr(pacing, "PROBE_EVERY", 1)
    monkeypatch.setattr(pacing, "PROBE_WINDOWS", 1)
    switches = 0
    original = pacing.Pacer.wrote

    def counting(self: pacing.Pacer, lines: int, end: float) -> bool:
        nonlocal switches
        changed = original(self, lines, end)
        switches += changed
        return changed

    monkeypatch.setattr(pacing.Pacer, "wrote", counting)
    appenders, rounds = 2 * SPLIT_AT + 3, 30
    async with await open_wal(tmp_path) as wal:

        async def appender(n: int) -> None:
            for k in range(rounds):
                await wal.append("t", {"n": n, "k": k})

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for n in range(appenders):
                    tg.start_soon(appender, n)
        assert wal.stats.appends == appenders * rounds
    assert switches > 2
    replayed = await replay(tmp_path)
    assert len(replayed) == appenders * rounds
    for n in range(appenders):
        assert [d["k"] for d in replayed if d["n"] == n] == list(range(rounds))


async def test_a_seal_held_for_the_loop_s_round_is_released_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Switching to rounds, the flusher holds the open batch until the loop has
    # run the appenders of the batch it just wrote. Here those appenders never
    # append again, so only the end of the loop's round can wake the flusher
    # for the batch that arrived while the first was being written.
    writing, finish = threading.Event(), threading.Event()
    original = SegmentWriter.write_batch

    def gated(
        self: SegmentWriter, payload: bytes | bytearray, *, sync: bool, next_seq: int
    ) -> None:
        if b'"first"' in payload:
            writing.set()
            finish.wait(10)
        original(self, payload, sync=sync, next_seq=next_seq)

    monkeypatch.setattr(SegmentWriter, "write_batch", gated)
    wal = await open_wal(tmp_path)
    wal._flusher._merge_next = True  # as after the pacer chose rounds
    # Not `async with`: a stranded batch would hang close(), which waits for it.
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wal.append, "t", {"first": True})
            await anyio.to_thread.run_sync(writing.wait, 10)
            tg.start_soon(wal.append, "t", {"second": True})
            while wal.last_seq < 2:  # the second append is queued
                await anyio.sleep(0)
            finish.set()
    await wal.close()
    assert await replay(tmp_path) == [{"first": True}, {"second": True}]
