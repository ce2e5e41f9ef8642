"""The store's write batching: what is committed when, and what waits for it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from opencode_orchestrator.sim.state import batch
from opencode_orchestrator.sim.state.store import DB_NAME, SimStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SimStore]:
    opened = await SimStore.open(tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


def _committed(state_dir: Path, sql: str) -> list[tuple[object, ...]]:
    """What another connection (another process, after a kill) reads."""
    db = sqlite3.connect(state_dir / DB_NAME)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _part(pid: str, state: str) -> dict[str, object]:
    return {"id": pid, "messageID": "msg_1", "sessionID": "ses_1", "type": "tool", "state": state}


async def test_a_write_is_committed_before_what_waits_for_it_runs(
    store: SimStore, tmp_path: Path
) -> None:
    seen: list[list[tuple[object, ...]]] = []
    store.put_session({"id": "ses_1", "title": "one"})
    store.after_writes(lambda: seen.append(_committed(tmp_path, "SELECT id FROM sessions")))
    assert seen == [], "held until the commit"
    await store.committed()
    assert seen == [[("ses_1",)]]
    store.after_writes(lambda: seen.append([]))
    assert seen[-1] == [], "nothing queued: runs at once"


async def test_writes_are_committed_within_the_turn_of_the_loop(
    store: SimStore, tmp_path: Path
) -> None:
    store.put_session({"id": "ses_1", "title": "one"})
    await anyio.sleep(0)
    await anyio.sleep(0)
    assert _committed(tmp_path, "SELECT id FROM sessions") == [("ses_1",)]


async def test_commits_come_at_most_every_interval_unless_urgent(
    store: SimStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "COMMIT_INTERVAL", 0.2)
    store.put_session({"id": "ses_1", "title": "one"})
    await store.committed()
    store.put_session({"id": "ses_2", "title": "two"})
    for _ in range(3):
        await anyio.sleep(0)
    assert _committed(tmp_path, "SELECT id FROM sessions") == [("ses_1",)], "grouped"
    with anyio.fail_after(5):
        while len(_committed(tmp_path, "SELECT id FROM sessions")) < 2:
            await anyio.sleep(0.01)
    store.put_session({"id": "ses_3", "title": "three"})
    with anyio.fail_after(0.1):
        await store.committed(urgent=True)  # does not wait for the interval
    assert len(_committed(tmp_path, "SELECT id FROM sessions")) == 3
    store.put_session({"id": "ses_4", "title": "four"})
    with anyio.move_on_after(0.1):
        await store.committed()  # the next commit due: the interval's
    assert len(_committed(tmp_path, "SELECT id FROM sessions")) == 3
    await store.committed()
    assert len(_committed(tmp_path, "SELECT id FROM sessions")) == 4


async def test_a_row_written_twice_in_a_batch_keeps_its_first_place_and_last_body(
    store: SimStore,
) -> None:
    store.put_message({"id": "msg_1", "sessionID": "ses_1", "role": "assistant"})
    store.put_part(_part("prt_a", "pending"))
    store.put_part(_part("prt_b", "pending"))
    store.put_part(_part("prt_a", "completed"))
    [message] = await store.messages("ses_1")
    assert [(p["id"], p["state"]) for p in message["parts"]] == [
        ("prt_a", "completed"),
        ("prt_b", "pending"),
    ]


async def test_nothing_moves_across_a_delete(store: SimStore) -> None:
    store.put_session({"id": "ses_1", "title": "before"})
    await store.committed()
    store.put_session({"id": "ses_1", "title": "again"})
    await store.delete_session("ses_1")
    store.put_session({"id": "ses_1", "title": "after"})
    assert [s["title"] for s in await store.sessions()] == ["after"]


async def test_a_read_sees_what_is_queued(store: SimStore) -> None:
    store.put_diff("ses_1", [{"file": "a.py"}])
    assert await store.diff("ses_1") == [{"file": "a.py"}]
    store.put_todos("ses_1", [{"content": "x"}])
    store.put_message({"id": "msg_1", "sessionID": "ses_1", "role": "user"})
    assert [m["info"]["id"] for m in await store.messages("ses_1")] == ["msg_1"]
    assert await store.todos("ses_1") == [{"content": "x"}]
    assert await store.diff("ses_1") == [{"file": "a.py"}]


async def test_close_commits_what_is_queued_and_later_writes_fail(tmp_path: Path) -> None:
    store = await SimStore.open(tmp_path)
    store.put_session({"id": "ses_1", "title": "last"})
    await store.close()
    assert _committed(tmp_path, "SELECT id FROM sessions") == [("ses_1",)]
    with pytest.raises(Exception, match="closed"):
        store.put_session({"id": "ses_2"})


async def test_checkpoints_run_off_the_loop_once_enough_is_written(
    store: SimStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "CHECKPOINT_BYTES", 1)
    database = tmp_path / DB_NAME
    store.put_session({"id": "ses_1", "title": "x" * 100_000})
    await store.committed()
    # Committed, the document is in the WAL; the checkpointer's thread copies it
    # into the database file (automatic checkpoints are off).
    with anyio.fail_after(5):
        while database.stat().st_size < 100_000:
            await anyio.sleep(0.01)


async def test_a_failed_commit_fails_those_waiting_but_releases_held_actions(
    tmp_path: Path,
) -> None:
    db = sqlite3.connect(tmp_path / "x.sqlite3")
    checkpointer = batch.Checkpointer(tmp_path / "x.sqlite3")
    writes = batch.WriteBatch(db, asyncio.get_running_loop(), checkpointer)
    released: list[bool] = []
    try:
        writes.write("INSERT INTO missing VALUES (?)", (1,))
        writes.hold(lambda: released.append(True))
        with pytest.raises(sqlite3.OperationalError):
            await writes.committed(urgent=True)
        assert released == [True]
        assert not writes.pending
    finally:
        await anyio.to_thread.run_sync(checkpointer.stop)
        db.close()
