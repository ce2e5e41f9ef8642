"""Durable state of the simulator: sessions, transcripts, todos and diffs in sqlite.

One connection in WAL mode, used from one worker thread at a time (a
capacity limiter of one serialises the calls), so the event loop never
touches the database. Calls that queue up while one runs are run together
by the next holder of the limiter, in order, in one thread hop and with one
commit: a turn stores ~20 documents, and a hop per document (~150 µs) capped
the simulator near 6,000 writes/s, fewer turns per second than 50 concurrent
100 ms turns need. ``synchronous=NORMAL`` keeps a committed write across a
process kill, which is what a restart test needs; surviving power loss is not
a goal. Documents are stored as the JSON the API sends, so reading a
transcript back is one query and no re-shaping. Rows keep their first
insertion order (``rowid``), which is the order parts and messages are listed in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio
import orjson

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.sim.errors import SimStateError
from opencode_orchestrator.sim.state.records import Json, now_ms, unknown_error

__all__ = ["DB_NAME", "INTERRUPTED_MESSAGE", "SimStore"]

DB_NAME: Final = "sim.sqlite3"
INTERRUPTED_MESSAGE: Final = "The server stopped while this message was being generated."

_T = TypeVar("_T")
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


def _dumps(document: object) -> str:
    return orjson.dumps(document).decode()


@dataclass(slots=True)
class _Call:
    """One queued use of the connection, and what came of it."""

    func: Callable[[sqlite3.Connection], Any]
    done: bool = False
    cancelled: bool = False
    result: Any = None
    error: Exception | None = None


class SimStore:
    """The sqlite database under a state directory; every method runs off the loop."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._limiter = anyio.CapacityLimiter(1)
        self._queue: list[_Call] = []
        self._closed = False

    @classmethod
    async def open(cls, state_dir: Path) -> SimStore:
        """Open (creating if needed) the database in ``state_dir``.

        Raises:
            SimStateError: the directory or database cannot be created or opened.
        """

        def connect() -> sqlite3.Connection:
            state_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(state_dir / DB_NAME, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.commit()
            return db

        try:
            connection = await anyio.to_thread.run_sync(connect)
        except (OSError, sqlite3.Error) as exc:
            raise SimStateError(f"{state_dir}: cannot open the simulator state: {exc}") from exc
        return cls(connection)

    async def _run(self, func: Callable[[sqlite3.Connection], _T]) -> _T:
        call = _Call(func)
        self._queue.append(call)
        try:
            async with self._limiter:
                if not call.done:  # else an earlier holder ran it in its batch
                    batch, self._queue = self._queue, []
                    await anyio.to_thread.run_sync(self._run_batch, batch)
        except BaseException:
            call.cancelled = True  # not run if its batch has not reached it yet
            if call in self._queue:
                self._queue.remove(call)
            raise
        if call.error is not None:
            raise call.error
        result: _T = call.result
        return result

    def _run_batch(self, batch: list[_Call]) -> None:
        try:
            for call in batch:
                if call.cancelled:
                    continue
                try:
                    call.result = call.func(self._db)
                except Exception as exc:  # noqa: BLE001 - handed to the call's awaiter
                    call.error = exc
            self._db.commit()
        except Exception as exc:  # noqa: BLE001 - the commit failed: every call did
            for call in batch:
                call.error = call.error or exc
        finally:
            for call in batch:
                call.done = True

    async def close(self) -> None:
        """Close the connection; later calls fail."""
        if self._closed:
            return
        self._closed = True
        await anyio.to_thread.run_sync(self._db.close, limiter=self._limiter)

    async def put_session(self, info: Json) -> None:
        """Insert or replace a session."""
        body = _dumps(info)
        await self._run(
            lambda db: db.execute(
                "INSERT INTO sessions (id, body) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                (info["id"], body),
            )
        )

    async def delete_session(self, session_id: str) -> None:
        """Remove a session and everything recorded for it."""

        def delete(db: sqlite3.Connection) -> None:
            for table, column in (
                ("sessions", "id"),
                ("messages", "session_id"),
                ("parts", "session_id"),
                ("todos", "session_id"),
                ("diffs", "session_id"),
            ):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (session_id,))  # noqa: S608

        await self._run(delete)

    async def sessions(self) -> list[Json]:
        """Every stored session, oldest first."""
        rows = await self._run(lambda db: db.execute("SELECT body FROM sessions").fetchall())
        return [orjson.loads(body) for (body,) in rows]

    async def put_message(self, info: Json) -> None:
        """Insert or update a message's info (its place in the transcript stays)."""
        body = _dumps(info)
        await self._run(
            lambda db: db.execute(
                "INSERT INTO messages (id, session_id, body) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                (info["id"], info["sessionID"], body),
            )
        )

    async def put_part(self, part: Json) -> None:
        """Insert or update a part (its place in the message stays)."""
        body = _dumps(part)
        await self._run(
            lambda db: db.execute(
                "INSERT INTO parts (id, message_id, session_id, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                (part["id"], part["messageID"], part["sessionID"], body),
            )
        )

    async def messages(self, session_id: str, message_id: str | None = None) -> list[Json]:
        """The transcript as ``[{info, parts}]`` in order; one message if ``message_id``."""

        def read(db: sqlite3.Connection) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
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
            return infos, parts

        infos, parts = await self._run(read)
        by_message: dict[str, list[Json]] = {mid: [] for mid, _ in infos}
        for mid, body in parts:
            if mid in by_message:
                by_message[mid].append(orjson.loads(body))
        return [{"info": orjson.loads(body), "parts": by_message[mid]} for mid, body in infos]

    async def put_todos(self, session_id: str, todos: list[Json]) -> None:
        """Replace a session's todo list."""
        await self._put_keyed("todos", session_id, todos)

    async def todos(self, session_id: str) -> list[Json]:
        """A session's todo list (empty if none was written)."""
        return await self._get_keyed("todos", session_id)

    async def put_diff(self, session_id: str, diff: list[Json]) -> None:
        """Replace a session's file diff."""
        await self._put_keyed("diffs", session_id, diff)

    async def diff(self, session_id: str) -> list[Json]:
        """A session's file diff (empty if it changed nothing)."""
        return await self._get_keyed("diffs", session_id)

    async def _put_keyed(self, table: str, session_id: str, document: list[Json]) -> None:
        body = _dumps(document)
        await self._run(
            lambda db: db.execute(
                f"INSERT INTO {table} (session_id, body) VALUES (?, ?) "  # noqa: S608
                "ON CONFLICT(session_id) DO UPDATE SET body = excluded.body",
                (session_id, body),
            )
        )

    async def _get_keyed(self, table: str, session_id: str) -> list[Json]:
        row = await self._run(
            lambda db: db.execute(
                f"SELECT body FROM {table} WHERE session_id = ?",  # noqa: S608
                (session_id,),
            ).fetchone()
        )
        return [] if row is None else list(orjson.loads(row[0]))

    async def end_interrupted_turns(self) -> int:
        """Give every assistant message left unfinished by a crash an error; return how many.

        A turn that was running when the process died is not running after a
        restart: its message gets ``time.completed`` and an error, as OpenCode
        shows after its own restart.
        """

        def repair(db: sqlite3.Connection) -> int:
            rows = db.execute(
                "SELECT id, body FROM messages WHERE json_extract(body, '$.role') = 'assistant' "
                "AND json_extract(body, '$.time.completed') IS NULL"
            ).fetchall()
            for message_id, body in rows:
                info = orjson.loads(body)
                info["time"]["completed"] = now_ms()
                info.setdefault("error", unknown_error(INTERRUPTED_MESSAGE))
                db.execute("UPDATE messages SET body = ? WHERE id = ?", (_dumps(info), message_id))
            return len(rows)

        repaired = await self._run(repair)
        if repaired:
            _log.info("sim.interrupted_turns_ended", count=repaired)
        return repaired
