"""Writes to the simulator's sqlite database, batched per turn of the event loop.

Writes are queued, not run one at a time: a turn stores ~20 documents, and
taking each to a worker thread (a hop, GIL hand-offs, a wake-up of the loop:
~150 µs of CPU) was most of what a turn cost. The queue is flushed on the
loop, in one transaction, at the end of the turn of the loop that queued the
first write, or :data:`COMMIT_INTERVAL` after the previous commit if that is
later: with WAL and ``synchronous=NORMAL`` a commit does not fsync, but it
writes every page it changed (~100 µs of CPU for a few rows), and fifty
concurrent turns would otherwise commit a thousand times a second, a few
rows at a time. A route about to answer waits for that commit too
(:meth:`WriteBatch.committed`); a paced turn (``latency.step`` unset) asks
for an urgent one, at the end of the loop's turn.
The one slow thing sqlite does, the checkpoint that copies the WAL into the
database and fsyncs it, is kept off the loop: automatic checkpoints are off
and a thread of :class:`Checkpointer` runs them with a connection of its own.

Nothing a client sees runs ahead of the disk: :meth:`WriteBatch.hold` keeps
an action (publishing an event) until the writes queued before it are
committed, and :meth:`WriteBatch.committed` lets a route answer only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from opencode_orchestrator.log import get_logger

__all__ = ["CHECKPOINT_BYTES", "COMMIT_INTERVAL", "Checkpointer", "WriteBatch"]

COMMIT_INTERVAL: Final = 0.002
"""Seconds between two commits at least, unless a read or a close needs one now."""
CHECKPOINT_BYTES: Final = 4 * 2**20
"""Bytes of documents written between two checkpoints (sqlite's own default is ~4 MiB)."""
_log = get_logger(__name__)


class Checkpointer:
    """A thread that checkpoints the database's WAL when asked, off the event loop."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="sim-checkpoint", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Checkpoint soon (requests made meanwhile are merged)."""
        self._wanted.set()

    def stop(self) -> None:
        """End the thread after any checkpoint under way (blocks: call it off the loop)."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _serve(self) -> None:
        db = sqlite3.connect(self._path, check_same_thread=False)
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # a busy database: the next request retries
                    _log.warning("sim.checkpoint_failed", error=str(exc))
        finally:
            db.close()


class WriteBatch:
    """The queue of writes to ``db`` and the actions waiting for them; use it on the loop only.

    Upserts of a row that is already queued replace its queued values (the
    row keeps the place it was first queued at, so rows get their ``rowid``
    in the order they were first written): a part goes pending → running →
    completed in one turn of the loop, and only the last state needs writing.
    Every upsert of one statement then goes to sqlite in one ``executemany``;
    that reorders writes to different tables, which nothing depends on.
    Other statements (deletes) are barriers: nothing moves across them.
    """

    def __init__(
        self, db: sqlite3.Connection, loop: asyncio.AbstractEventLoop, checkpointer: Checkpointer
    ) -> None:
        self._db = db
        self._loop = loop
        self._checkpointer = checkpointer
        self._upserts: dict[str, dict[str, Sequence[Any]]] = {}
        """Statement → row key → values, in the order rows were first queued."""
        self._sealed: list[tuple[str, list[Sequence[Any]]]] = []
        """Statements queued before the last barrier, and the barriers, in order."""
        self._held: list[Callable[[], None]] = []
        self._waiters: list[asyncio.Future[None]] = []
        """Those awaiting :meth:`committed`: answered after the held actions."""
        self._scheduled = False
        self._urgent = False
        self._last_commit = -COMMIT_INTERVAL
        self._written = 0
        self.on_commit: Callable[[], None] | None = None
        """Called after each commit, before the held actions."""

    @property
    def pending(self) -> bool:
        """Whether writes are queued."""
        return bool(self._upserts or self._sealed)

    def upsert(self, sql: str, key: str, args: Sequence[Any], size: int) -> None:
        """Queue an upsert of the row ``key``; committed soon (see the module's docstring).

        ``size`` (bytes written) paces the checkpoints.
        """
        rows = self._upserts.get(sql)
        if rows is None:
            rows = self._upserts[sql] = {}
        rows[key] = args
        self._written += size
        self._schedule()

    def write(self, sql: str, args: Sequence[Any]) -> None:
        """Queue a statement that no queued write may move across (a delete)."""
        self._seal()
        self._sealed.append((sql, [args]))
        self._schedule()

    def _seal(self) -> None:
        self._sealed.extend((sql, list(rows.values())) for sql, rows in self._upserts.items())
        self._upserts = {}

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            due = self._last_commit + COMMIT_INTERVAL
            if due > self._loop.time():
                self._loop.call_at(due, self._flush_soon)
            else:
                self._loop.call_soon(self._flush_soon)

    def hold(self, action: Callable[[], None]) -> None:
        """Run ``action`` after the next commit (call it only while writes are :attr:`pending`)."""
        self._held.append(action)

    async def committed(self, *, urgent: bool = False) -> None:
        """Return once every write queued so far is committed (and the actions held for it ran).

        The commit is the next one due; ``urgent``: at the end of this turn of
        the loop at the latest (what else is queued by then shares it).
        """
        if not self.pending:
            return
        done: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(done)
        if urgent and not self._urgent:
            self._urgent = True
            self._loop.call_soon(self._flush_now)
        await done

    def _flush_soon(self) -> None:
        self._scheduled = False
        # A failure is logged and raised to the waiters; a loop callback has
        # nobody else to raise it to.
        with contextlib.suppress(sqlite3.Error):
            self.flush()

    def _flush_now(self) -> None:
        self._urgent = False
        with contextlib.suppress(sqlite3.Error):
            self.flush()

    def flush(self) -> None:
        """Run and commit every queued write, then the actions that waited for them.

        Raises:
            sqlite3.Error: the writes could not be committed. They are dropped;
                the held actions run anyway (a stream must not stall) and
                :meth:`committed` raises it to those waiting.
        """
        if not self.pending:
            return
        self._seal()
        statements, held, waiters = self._sealed, self._held, self._waiters
        self._sealed, self._held, self._waiters = [], [], []
        self._last_commit = self._loop.time()
        failed: sqlite3.Error | None = None
        try:
            for sql, rows in statements:
                if len(rows) == 1:
                    self._db.execute(sql, rows[0])
                else:
                    self._db.executemany(sql, rows)
            self._db.commit()
        except sqlite3.Error as exc:
            failed = exc
            self._db.rollback()
            _log.error("sim.store_write_failed", statements=len(statements), error=str(exc))
            raise
        finally:
            if self.on_commit is not None:
                self.on_commit()
            for action in held:
                action()
            for waiter in waiters:
                if not waiter.done():
                    if failed is None:
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(failed)
        if self._written >= CHECKPOINT_BYTES:
            self._written = 0
            self._checkpointer.request()
