"""Durable state of the simulator: sessions, transcripts, todos and diffs in sqlite.

One connection in WAL mode, used on the event loop: writes (``put_*``) are
queued and committed together once per turn of the loop (:mod:`.batch`); a
read sees them all. Checkpoints, the only writes that fsync, run in a thread.
What a client sees never runs ahead of the disk: events are published
through :meth:`SimStore.after_writes` and routes answer after
:meth:`SimStore.committed`, so a client that reacts to either can read what it
describes, also after the process is killed (``synchronous=NORMAL`` keeps a
committed write across a process kill; surviving power loss is not a goal).
Documents are stored as the JSON the API sends, so reading a transcript back
is one query and no re-shaping. Rows keep their first insertion order
(``rowid``), which is the order parts and messages are listed in.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final

import anyio
import orjson

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.sim.errors import SimStateError
from opencode_orchestrator.sim.state.batch import Checkpointer, WriteBatch
from opencode_orchestrator.sim.state.records import Json, now_ms, unknown_error

__all__ = ["DB_NAME", "INTERRUPTED_MESSAGE", "SimStore"]

DB_NAME: Final = "sim.sqlite3"
INTERRUPTED_MESSAGE: Final = "The server stopped while this message was being generated."

_log = get_logger(__name__)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id);
CREATE TABLE IF NOT EXISTS parts (
    id TEXT PRIMARY KEY, message_id TEXT NOT NULL, session_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS parts_by_message ON parts (message_id);
CREATE INDEX IF NOT EXISTS parts_by_session ON parts (session_id);
CREATE TABLE IF NOT EXISTS todos (session_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS diffs (session_id TEXT PRIMARY KEY, body TEXT NOT NULL);
"""
_UPSERT_SESSION: Final = (
    "INSERT INTO sessions (id, body) VALUES (?, ?) "
    "ON CONFLICT(id) DO UPDATE SET body = excluded.body"
)
_UPSERT_MESSAGE: Final = (
    "INSERT INTO messages (id, session_id, body) VALUES (?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET body = excluded.body"
)
_UPSERT_PART: Final = (
    "INSERT INTO parts (id, message_id, session_id, body) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET body = excluded.body"
)
_UPSERT_KEYED: Final = {
    table: f"INSERT INTO {table} (session_id, body) VALUES (?, ?) "  # noqa: S608
    "ON CONFLICT(session_id) DO UPDATE SET body = excluded.body"
    for table in ("todos", "diffs")
}
_DELETE_SESSION: Final = tuple(
    f"DELETE FROM {table} WHERE {column} = ?"  # noqa: S608
    for table, column in (
        ("sessions", "id"),
        ("messages", "session_id"),
        ("parts", "session_id"),
        ("todos", "session_id"),
        ("diffs", "session_id"),
    )
)


def _dumps(document: object) -> str:
    return orjson.dumps(document).decode()


class SimStore:
    """The sqlite database under a state directory; open it on the loop that will use it."""

    def __init__(self, db: sqlite3.Connection, checkpointer: Checkpointer) -> None:
        self._db = db
        self._checkpointer = checkpointer
        self._batch = WriteBatch(db, asyncio.get_running_loop(), checkpointer)
        self._closed = False
        self._queued_keyed: dict[tuple[str, str], str] = {}
        """Todo lists and diffs written but not committed yet, so reading one commits nothing."""
        self._batch.on_commit = self._queued_keyed.clear

    @classmethod
    async def open(cls, state_dir: Path) -> SimStore:
        """Open (creating if needed) the database in ``state_dir``.

        Raises:
            SimStateError: the directory or database cannot be created or opened.
        """
        path = state_dir / DB_NAME

        def connect() -> sqlite3.Connection:
            state_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints fsync: the Checkpointer's thread runs them, not the loop.
            db.execute("PRAGMA wal_autocheckpoint=0")
            db.executescript(_SCHEMA)
            db.commit()
            return db

        try:
            db = await anyio.to_thread.run_sync(connect)
        except (OSError, sqlite3.Error) as exc:
            raise SimStateError(f"{state_dir}: cannot open the simulator state: {exc}") from exc
        return cls(db, Checkpointer(path))

    def _live(self) -> sqlite3.Connection:
        if self._closed:
            raise SimStateError("the simulator state is closed")
        return self._db

    @property
    def pending(self) -> bool:
        """Whether writes are queued (an event now would wait for their commit)."""
        return self._batch.pending

    def after_writes(self, action: Callable[[], None]) -> None:
        """Run ``action`` once every write queued so far is committed (now, if it is)."""
        batch = self._batch
        if batch.pending:
            batch.hold(action)
        else:
            action()

    async def committed(self, *, urgent: bool = False) -> None:
        """Return once every write queued so far is committed (and its events published).

        The commit is the next one due (within ``COMMIT_INTERVAL``); ``urgent``:
        at the end of this turn of the loop.
        """
        self._live()
        await self._batch.committed(urgent=urgent)

    async def close(self) -> None:
        """Commit what is queued and close the connection; later calls fail."""
        if self._closed:
            return
        self._batch.flush()
        self._closed = True

        def close() -> None:
            self._checkpointer.stop()
            self._db.close()  # the last connection out checkpoints: off the loop

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(close)

    def _upsert(self, sql: str, args: tuple[str, ...]) -> None:
        self._live()
        # Every upsert's key is its first value, its document its last.
        self._batch.upsert(sql, args[0], args, len(args[-1]))

    def put_session(self, info: Json) -> bytes:
        """Queue the insertion or replacement of a session; return it as JSON."""
        body = orjson.dumps(info)
        self._upsert(_UPSERT_SESSION, (info["id"], body.decode()))
        return body

    async def delete_session(self, session_id: str) -> None:
        """Remove a session and everything recorded for it (committed on return)."""
        self._live()
        for sql in _DELETE_SESSION:
            self._batch.write(sql, (session_id,))
        await self.committed()

    def _read(self) -> sqlite3.Connection:
        # A read sees every write queued before it, committed.
        db = self._live()
        self._batch.flush()
        return db

    async def sessions(self) -> list[Json]:
        """Every stored session, oldest first."""
        rows = self._read().execute("SELECT body FROM sessions").fetchall()
        return [orjson.loads(body) for (body,) in rows]

    def put_message(self, info: Json) -> bytes:
        """Queue the insertion or update of a message's info (its place in the transcript stays).

        Returns the info as JSON (what its event carries).
        """
        body = orjson.dumps(info)
        self._upsert(_UPSERT_MESSAGE, (info["id"], info["sessionID"], body.decode()))
        return body

    def put_part(self, part: Json) -> bytes:
        """Queue the insertion or update of a part (its place in the message stays); as JSON."""
        body = orjson.dumps(part)
        self._upsert(
            _UPSERT_PART, (part["id"], part["messageID"], part["sessionID"], body.decode())
        )
        return body

    async def messages(self, session_id: str, message_id: str | None = None) -> list[Json]:
        """The transcript as ``[{info, parts}]`` in order; one message if ``message_id``."""
        db = self._read()
        where, args = "session_id = ?", [session_id]
        if message_id is not None:
            where, args = where + " AND id = ?", [session_id, message_id]
        infos = db.execute(
            f"SELECT id, body FROM messages WHERE {where} ORDER BY rowid",  # noqa: S608
            args,
        ).fetchall()
        part_where = "session_id = ?" if message_id is None else "message_id = ?"
        parts = db.execute(
            f"SELECT message_id, body FROM parts WHERE {part_where} ORDER BY rowid",  # noqa: S608
            (message_id or session_id,),
        ).fetchall()
        by_message: dict[str, list[Json]] = {mid: [] for mid, _ in infos}
        for mid, body in parts:
            if mid in by_message:
                by_message[mid].append(orjson.loads(body))
        return [{"info": orjson.loads(body), "parts": by_message[mid]} for mid, body in infos]

    def put_todos(self, session_id: str, todos: list[Json]) -> None:
        """Queue the replacement of a session's todo list."""
        self._put_keyed("todos", session_id, todos)

    async def todos(self, session_id: str) -> list[Json]:
        """A session's todo list (empty if none was written)."""
        return self._get_keyed("todos", session_id)

    def put_diff(self, session_id: str, diff: list[Json]) -> None:
        """Queue the replacement of a session's file diff."""
        self._put_keyed("diffs", session_id, diff)

    async def diff(self, session_id: str) -> list[Json]:
        """A session's file diff (empty if it changed nothing)."""
        return self._get_keyed("diffs", session_id)

    def _put_keyed(self, table: str, session_id: str, document: list[Json]) -> None:
        body = _dumps(document)
        self._upsert(_UPSERT_KEYED[table], (session_id, body))
        self._queued_keyed[table, session_id] = body

    def _get_keyed(self, table: str, session_id: str) -> list[Json]:
        body = self._queued_keyed.get((table, session_id))
        if body is None:  # nothing queued for it: what is committed is current
            row = (
                self._live()
                .execute(f"SELECT body FROM {table} WHERE session_id = ?", (session_id,))  # noqa: S608
                .fetchone()
            )
            body = None if row is None else row[0]
        return [] if body is None else list(orjson.loads(body))

    async def end_interrupted_turns(self) -> int:
        """Give every assistant message left unfinished by a crash an error; return how many.

        A turn that was running when the process died is not running after a
        restart: its message gets ``time.completed`` and an error, as OpenCode
        shows after its own restart.
        """
        db = self._read()
        rows = db.execute(
            "SELECT id, body FROM messages WHERE json_extract(body, '$.role') = 'assistant' "
            "AND json_extract(body, '$.time.completed') IS NULL"
        ).fetchall()
        for message_id, body in rows:
            info = orjson.loads(body)
            info["time"]["completed"] = now_ms()
            info.setdefault("error", unknown_error(INTERRUPTED_MESSAGE))
            db.execute("UPDATE messages SET body = ? WHERE id = ?", (_dumps(info), message_id))
        db.commit()
        if rows:
            _log.info("sim.interrupted_turns_ended", count=len(rows))
        return len(rows)
