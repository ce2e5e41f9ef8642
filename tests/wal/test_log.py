"""WriteAheadLog: durability policies, group commit, fail-stop, lifecycle, lock, modes."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path
from typing import Any

import anyio
import pydantic
import pytest

from opencode_orchestrator.errors import OrchestratorError
from opencode_orchestrator.wal import (
    Durability,
    RecordRegistry,
    WalClosedError,
    WalError,
    WalFatalError,
    WalInvalidPayloadError,
    WalLockedError,
    WalState,
    WalUnknownRecordTypeError,
    WriteAheadLog,
    errors,
    flusher,
    mission_wal_dir,
)
from tests.wal.helpers import append_n, make_registry, only_segment, open_wal, replay

pytestmark = pytest.mark.anyio


async def test_append_returns_consecutive_records_and_survives_reopen(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        first = await wal.append("mission.created", {"goal": "ship it"})
        second = await wal.append("t", {"i": 1})
    assert (first.seq, first.type, first.data, first.v) == (
        1,
        "mission.created",
        {"goal": "ship it"},
        2,
    )
    assert second.seq == 2
    assert second.ts >= first.ts
    async with await open_wal(tmp_path) as wal:
        assert wal.recovery.records == [first, second]
        assert wal.recovery.snapshot_state is None
        assert (await wal.append("t", {})).seq == 3


async def test_group_commit_shares_fsyncs_among_64_appenders(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        seqs: list[int] = []

        async def appender(n: int) -> None:
            for k in range(4):
                record = await wal.append("t", {"w": n, "k": k})
                seqs.append(record.seq)

        async with anyio.create_task_group() as tg:
            for n in range(64):
                tg.start_soon(appender, n)
        stats = wal.stats
    assert sorted(seqs) == list(range(1, 257))
    assert stats.appends == 256
    assert stats.fsyncs == stats.batches
    assert stats.fsyncs * 8 <= stats.appends, stats
    assert len(await replay(tmp_path)) == 256


async def test_always_is_durable_before_acknowledging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Durable = every write of record bytes went to an O_DSYNC descriptor (the
    # write returns once the data is on disk) or was followed by an fdatasync,
    # before the append returned.
    undurable: set[int] = set()
    real_write, real_sync = os.write, os.fdatasync

    def write(fd: int, data: Any) -> int:
        written = real_write(fd, data)
        if not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DSYNC:
            undurable.add(fd)
        return written

    def fdatasync(fd: int) -> None:
        real_sync(fd)
        undurable.discard(fd)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    async with await open_wal(tmp_path) as wal:
        for i in range(3):
            await wal.append("t", {"i": i})
            assert not undurable
            assert wal.stats.fsyncs == i + 1


async def test_the_control_case_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check above can fail: under `none` nothing is durable at acknowledgement.
    undurable: set[int] = set()
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        written = real_write(fd, data)
        if not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DSYNC:
            undurable.add(fd)
        return written

    monkeypatch.setattr(os, "write", write)
    async with await open_wal(tmp_path, durability=Durability.NONE) as wal:
        await wal.append("t", {"i": 0})
        assert undurable


async def test_interval_acknowledges_after_write_and_syncs_within_the_window(
    tmp_path: Path,
) -> None:
    async with await open_wal(tmp_path, durability=Durability.INTERVAL, sync_interval=0.01) as wal:
        await wal.append("t", {"i": 0})
        # Written to the OS before the ack: visible to another reader right away.
        assert b'"i":0' in only_segment(tmp_path).read_bytes()
        with anyio.fail_after(10):
            while wal.stats.fsyncs == 0:
                await anyio.sleep(0.005)
    assert await replay(tmp_path) == [{"i": 0}]


async def test_interval_syncs_under_continuous_load_too(tmp_path: Path) -> None:
    # Appends keep arriving: the deadline must still force a sync (not only idleness).
    async with await open_wal(tmp_path, durability=Durability.INTERVAL, sync_interval=0.001) as wal:
        with anyio.fail_after(10):
            while wal.stats.fsyncs == 0:
                await wal.append("t", {})


async def test_none_policy_never_fsyncs_until_close(tmp_path: Path) -> None:
    async with await open_wal(tmp_path, durability=Durability.NONE) as wal:
        await append_n(wal, 5)
        assert wal.stats.fsyncs == 0
    assert await replay(tmp_path) == [{"i": i} for i in range(5)]


# Under `always` a failed sync surfaces from the O_DSYNC write itself; the
# interval syncer's fdatasync failure has its own test below.
@pytest.mark.parametrize("durability", list(Durability))
async def test_io_error_is_fail_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: Durability
) -> None:
    wal = await open_wal(tmp_path, durability=durability)
    await wal.append("t", {"i": 0})

    def broken(*_args: Any) -> Any:
        raise OSError(errno.EIO, "injected I/O error")

    monkeypatch.setattr(os, "write", broken)
    results: list[BaseException | None] = []

    async def appender(i: int) -> None:
        try:
            await wal.append("t", {"i": i})
            results.append(None)
        except WalFatalError as exc:
            results.append(exc)

    async with anyio.create_task_group() as tg:
        for i in range(1, 9):
            tg.start_soon(appender, i)
    assert len(results) == 8
    assert all(isinstance(r, WalFatalError) for r in results)
    assert "injected I/O error" in str(results[0])
    assert wal.state is WalState.FAILED
    monkeypatch.undo()  # even with a healthy disk again, it never retries
    with pytest.raises(WalFatalError, match="injected"):
        await wal.append("t", {"i": 99})
    with pytest.raises(WalFatalError):
        await wal.snapshot({})
    await wal.close()
    assert wal.state is WalState.FAILED
    recovered = await replay(tmp_path)
    assert recovered[0] == {"i": 0}
    assert {"i": 99} not in recovered


async def test_interval_syncer_failure_stops_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal = await open_wal(tmp_path, durability=Durability.INTERVAL, sync_interval=0.01)

    def broken(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "injected full disk")

    monkeypatch.setattr(os, "fdatasync", broken)
    await wal.append("t", {"i": 0})
    with anyio.fail_after(10):
        while wal.state is WalState.OPEN:
            try:
                await wal.append("t", {"i": 1})
            except WalFatalError:
                break
            await anyio.sleep(0.005)
    with pytest.raises(WalFatalError, match="injected full disk"):
        await wal.append("t", {"i": 2})
    assert wal.state is WalState.FAILED
    await wal.close()


async def test_closed_log_refuses_use(tmp_path: Path) -> None:
    wal = await open_wal(tmp_path)
    async with wal:
        await wal.append("t", {})
    assert wal.state is WalState.CLOSED
    with pytest.raises(WalClosedError):
        await wal.append("t", {})
    with pytest.raises(WalClosedError):
        await wal.snapshot({})
    with pytest.raises(WalClosedError):
        async with wal:
            pass
    await wal.close()  # idempotent
    # The lock was released: a fresh open succeeds.
    assert await replay(tmp_path) == [{}]


async def test_close_flushes_appends_in_flight(tmp_path: Path) -> None:
    wal = await open_wal(tmp_path)
    acked: list[int] = []

    async def appender(i: int) -> None:
        acked.append((await wal.append("t", {"i": i})).seq)

    async with anyio.create_task_group() as tg:
        for i in range(16):
            tg.start_soon(appender, i)
        await anyio.sleep(0)  # one turn: every appender has queued its record
        tg.start_soon(wal.close)
    # Queued before close, so flushed by it: all on disk, and all acknowledged.
    assert sorted(acked) == list(range(1, 17))
    assert sorted(r["i"] for r in await replay(tmp_path)) == list(range(16))


async def test_second_open_in_same_process_is_locked(tmp_path: Path) -> None:
    async with await open_wal(tmp_path):
        with pytest.raises(WalLockedError) as info:
            await open_wal(tmp_path)
    assert info.value.holder_pid == os.getpid()
    assert str(os.getpid()) in str(info.value)
    assert (tmp_path / "LOCK").read_text().strip() == str(os.getpid())


async def test_files_are_0600_and_directories_0700_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        directory = mission_wal_dir(tmp_path / "project", "m-1")
        async with await open_wal(directory, segment_max_bytes=200) as wal:
            await append_n(wal, 10)
            await wal.snapshot({"n": 10})
            await append_n(wal, 3)
    finally:
        os.umask(old)
    assert (
        directory
        == tmp_path / "project" / ".opencode" / "orchestrator" / "missions" / "m-1" / "wal"
    )
    for path in [directory, directory.parent, directory.parent.parent]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    files = list(directory.iterdir())
    assert len(files) >= 3
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("bad", ["", "..", "a/b", "../x", ".hidden"])
def test_mission_wal_dir_rejects_escaping_ids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid mission id"):
        mission_wal_dir(tmp_path, bad)


async def test_payloads_are_checked_on_append(tmp_path: Path) -> None:
    class Created(pydantic.BaseModel):
        goal: str

    registry = RecordRegistry(["t"])
    registry.register("mission.created", Created)
    async with await WriteAheadLog.open(tmp_path, registry=registry) as wal:
        with pytest.raises(WalUnknownRecordTypeError):
            await wal.append("nope", {})
        with pytest.raises(WalInvalidPayloadError):
            await wal.append("mission.created", {"goal": 3.5})
        with pytest.raises(WalInvalidPayloadError):
            await wal.append("t", {"x": object()})
        with pytest.raises(WalInvalidPayloadError):
            await wal.append("t", ["not", "a", "dict"])  # type: ignore[arg-type]
        # Refused appends take no seq.
        assert (await wal.append("mission.created", {"goal": "g"})).seq == 1


def test_registry_refuses_conflicting_registration() -> None:
    registry = make_registry()
    registry.register("t")  # idempotent
    with pytest.raises(WalError, match="already registered") as info:
        registry.register("t", pydantic.BaseModel)
    assert info.value.code == "wal.registry"


def test_every_error_is_an_orchestrator_error_with_a_code() -> None:
    codes = set()
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, WalError):
            assert issubclass(obj, OrchestratorError)
            assert obj.code.startswith("wal")
            assert obj.code in (errors.__doc__ or "")
            codes.add(obj.code)
    assert len(codes) == 9


async def test_cancelled_appender_does_not_stall_the_others(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        done: list[int] = []

        async def appender(i: int) -> None:
            done.append((await wal.append("t", {"i": i})).seq)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(appender, i)
            with anyio.CancelScope() as scope:
                scope.cancel()
                await wal.append("t", {"cancelled": True})
        with anyio.fail_after(10):
            await wal.append("t", {"last": True})
    assert len(done) == 20
    replayed = await replay(tmp_path)
    assert replayed[-1] == {"last": True}
    assert len(replayed) in (21, 22)


async def test_append_soon_returns_at_once_and_a_later_append_makes_it_durable(
    tmp_path: Path,
) -> None:
    async with await open_wal(tmp_path) as wal:
        soon = wal.append_soon("t", {"i": 1})
        assert (soon.seq, soon.data) == (1, {"i": 1})
        later = await wal.append("t", {"i": 2})
        assert later.seq == 2
        # The later append returned, so both lines are on disk, in order.
        lines = only_segment(tmp_path).read_bytes().splitlines()
        assert [b'"i":1' in lines[0], b'"i":2' in lines[1]] == [True, True]
    assert await replay(tmp_path) == [{"i": 1}, {"i": 2}]


async def test_an_append_soon_nobody_follows_is_stored_by_close(tmp_path: Path) -> None:
    wal = await open_wal(tmp_path)
    wal.append_soon("t", {"i": 1})
    await wal.close()
    assert await replay(tmp_path) == [{"i": 1}]


@pytest.fixture
def wide_lazy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queued records alone wait a minute: only a durable append, an urge or a hand-off
    gets them written in a test's time."""
    monkeypatch.setattr(flusher, "LAZY_WINDOW", 60.0)


async def _flusher_asleep(wal: WriteAheadLog) -> None:
    """Wait until the flusher, woken by an append, is waiting for work again."""
    with anyio.fail_after(5):
        while not wal._flusher._idle:
            await anyio.sleep(0.001)


async def _newest_batch_stored(wal: WriteAheadLog) -> None:
    """Wait until the newest batch is stored, without urging it (as a drain would)."""
    batch = wal._flusher.last_batch  # no public wait for a queued record
    assert batch is not None
    with anyio.fail_after(5):
        await batch.wait()


@pytest.mark.usefixtures("wide_lazy_window")
async def test_queued_records_wait_for_the_next_append_to_share_its_sync(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        wal.append_soon("t", {"i": 1})
        wal.append_soon("t", {"i": 2})
        # Woken by the first, the flusher went back to sleep: without writing them
        # (a sync will serve them and the append).
        await _flusher_asleep(wal)
        assert (wal.stats.batches, only_segment(tmp_path).read_bytes()) == (0, b"")
        with anyio.fail_after(5):
            await wal.append("t", {"i": 3})
        assert wal.stats.batches == 1
    assert await replay(tmp_path) == [{"i": 1}, {"i": 2}, {"i": 3}]


async def test_queued_records_alone_reach_the_disk_once_their_window_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flusher, "LAZY_WINDOW", 0.02)
    async with await open_wal(tmp_path) as wal:
        wal.append_soon("t", {"i": 1})
        await _newest_batch_stored(wal)  # no append, no close: the window's timer wrote it
        assert b'"i":1' in only_segment(tmp_path).read_bytes()
        assert wal.stats.batches == 1


@pytest.mark.usefixtures("wide_lazy_window")
async def test_a_snapshot_does_not_wait_out_the_window_of_queued_records(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        wal.append_soon("t", {"i": 1})
        with anyio.fail_after(5):
            assert await wal.snapshot({"state": 1}) == 1


@pytest.mark.usefixtures("wide_lazy_window")
async def test_queued_records_enough_for_a_hand_off_are_taken_at_once(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        wal.append_soon("t", {"i": 0})
        await _flusher_asleep(wal)  # sleeping out the window: the hand-off must wake it
        for i in range(1, flusher.SPLIT_AT):
            wal.append_soon("t", {"i": i})
        await _newest_batch_stored(wal)
        assert wal.stats.batches == 1


async def test_an_append_soon_that_cannot_be_stored_fails_the_next_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal = await open_wal(tmp_path)
    await wal.append("t", {"i": 0})

    def broken(*_args: Any) -> Any:
        raise OSError(errno.EIO, "injected I/O error")

    monkeypatch.setattr(os, "write", broken)
    wal.append_soon("t", {"i": 1})  # returns: nothing waits on the disk here
    with pytest.raises(WalFatalError, match="injected"):
        await wal.append("t", {"i": 2})
    with pytest.raises(WalFatalError):
        wal.append_soon("t", {"i": 3})
    monkeypatch.undo()
    await wal.close()
    assert await replay(tmp_path) == [{"i": 0}]


async def test_append_soon_checks_what_append_checks(tmp_path: Path) -> None:
    async with await open_wal(tmp_path) as wal:
        with pytest.raises(WalUnknownRecordTypeError):
            wal.append_soon("no.such.type", {})
    with pytest.raises(WalClosedError):
        wal.append_soon("t", {})
