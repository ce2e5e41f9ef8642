"""The journal keeps its model equal to its log, even when a writer is cancelled."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import UnitState
from opencode_orchestrator.wal.log import Durability
from opencode_orchestrator.wal.paths import mission_wal_dir
from opencode_orchestrator.wal.writer import SegmentWriter
from tests.mission.journals import create, plan

pytestmark = pytest.mark.anyio


class _HeldSync:
    """The segment writer's batch write that, once armed, waits in its thread until released."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self._real = SegmentWriter.write_batch

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        held = self

        def write_batch(writer: SegmentWriter, payload: Any, *, sync: bool, next_seq: int) -> None:
            if held.armed:
                held.entered.set()
                held.release.wait()
            held._real(writer, payload, sync=sync, next_seq=next_seq)

        monkeypatch.setattr(SegmentWriter, "write_batch", write_batch)


@pytest.fixture
def held_sync(monkeypatch: pytest.MonkeyPatch) -> Iterator[_HeldSync]:
    held = _HeldSync()
    held.install(monkeypatch)
    try:
        yield held
    finally:
        held.release.set()  # never leave the flusher's thread waiting


async def test_a_writer_cancelled_mid_sync_still_has_its_record_in_the_model(
    tmp_path: Path, held_sync: _HeldSync
) -> None:
    directory = mission_wal_dir(tmp_path, "m1")
    journal = await Journal.open(directory, durability=Durability.ALWAYS)
    await create(journal, "m1", tmp_path)
    await plan(journal, ["a"])
    held_sync.armed = True
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def write() -> None:
                await journal.write(RecordType.UNIT_STATE, {"unit": "a", "state": "ready"})

            tg.start_soon(write)
            # A bounded wait: a thread cannot be cancelled, so no fail_after would end it.
            assert await anyio.to_thread.run_sync(held_sync.entered.wait, 10)
            tg.cancel_scope.cancel()  # the writer, while its record is being synced
        held_sync.armed = False
        held_sync.release.set()
        # The cancelled write is still on its way to the disk: the model says so.
        assert journal.model.units["a"].state is UnitState.READY
        await journal.close()
    reopened = await Journal.open(directory, durability=Durability.NONE)
    try:
        assert reopened.model.units["a"].state is UnitState.READY
    finally:
        await reopened.close()
