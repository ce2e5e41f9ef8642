"""The listener thread's side of per-mission log files.

Records are tagged with the mission they belong to where they are made (the
``mission_id`` bound in structlog's context variables of the mission's task
tree, see :func:`mission_of`); the one listener thread hands each tagged record
to that mission's file. Everything here that touches a file runs on the
listener thread, never on the event loop.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Final

import structlog

from opencode_orchestrator.private_files import FILE_MODE, ensure_private_dir

__all__ = [
    "CONTEXT_ATTRIBUTE",
    "MISSION_KEY",
    "DetachMarker",
    "Marker",
    "MissionRouter",
    "PrivateRotatingFileHandler",
    "mission_of",
    "not_a_marker",
]

MISSION_KEY: Final = "mission_id"
"""The context variable (and JSON key) naming the mission a record belongs to."""
CONTEXT_ATTRIBUTE: Final = "structlog_context"
"""Where a stdlib record keeps the context variables of the thread that made it."""


class Marker(logging.LogRecord):
    """Not a log line: an instruction to the listener thread, ``done`` once carried out."""

    def __init__(self) -> None:
        super().__init__("opencode_orchestrator.log", logging.CRITICAL, "", 0, "", None, None)
        self.done = threading.Event()


class DetachMarker(Marker):
    """Close the file of ``mission_id`` once every record queued before this is written."""

    def __init__(self, mission_id: str) -> None:
        super().__init__()
        self.mission_id = mission_id
        self._claimed = False
        self._claim_lock = threading.Lock()

    def claim(self) -> bool:
        """True for the first caller only: the listener, or a closer tired of waiting."""
        with self._claim_lock:
            first, self._claimed = not self._claimed, True
            return first


def not_a_marker(record: logging.LogRecord) -> bool:
    """A filter keeping markers out of real outputs."""
    return not isinstance(record, Marker)


def mission_of(record: logging.LogRecord) -> str | None:
    """The mission ``record`` belongs to; called in the thread that made the record.

    A structlog record carries its context already merged into its event
    dictionary (or an explicit ``mission_id=``); a stdlib record (httpx, say)
    gets the caller's context variables attached here, since the listener
    thread rendering it later has none of them.
    """
    event = record.msg
    if isinstance(event, dict):
        found = event.get(MISSION_KEY)
        return found if isinstance(found, str) else None
    context = structlog.contextvars.get_contextvars()
    if context:
        setattr(record, CONTEXT_ATTRIBUTE, context)
    found = context.get(MISSION_KEY)
    return found if isinstance(found, str) else None


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A size-rotated log file created 0600 (its missing directories 0700), whatever the umask.

    Lines are written unflushed: whoever drives the handler flushes it (the
    listener thread does once its queue is empty). Rotated copies keep the
    mode (they are renamed, not copied). A write that
    fails (a full disk, a removed directory) is ignored: a log must never break
    what it records, nor fill stderr with a traceback per line.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        backups: int,
        lazy: bool = True,
        own_directory: bool = True,
    ) -> None:
        """Open ``path``, or with ``lazy`` wait for the first record (on the listener thread).

        With ``own_directory`` the file's directory is ours alone and made 0700
        even when it exists (a mission's directory); without, only the
        directories created for the file are (a ``--log-file`` in a shared one).

        Raises:
            OSError: not ``lazy``, and the file cannot be created or opened.
        """
        self._own_directory = own_directory
        self._size = 0
        self._regular = False
        super().__init__(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=lazy
        )

    def _open(self) -> io.TextIOWrapper:
        path = Path(self.baseFilename)
        if self._own_directory or not path.parent.exists():
            ensure_private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # an older file keeps no wider mode
            status = os.fstat(fd)
            self._size = status.st_size
            self._regular = S_ISREG(status.st_mode)  # never rename /dev/stderr or a FIFO away
            return open(fd, "a", encoding=self.encoding, errors=self.errors)
        except BaseException:
            os.close(fd)
            raise

    def emit(self, record: logging.LogRecord) -> None:
        """Append ``record``'s line, rotating first if the line would pass ``max_bytes``.

        Not flushed: the listener flushes its outputs whenever its queue is
        empty. The stdlib's version rendered each record twice (once to
        measure it), asked the file system twice whether the file was still a
        regular file, and flushed every line: half of what a mission's
        logging cost.
        """
        try:
            line = self.format(record) + self.terminator
            size = len(line) if line.isascii() else len(line.encode("utf-8", "replace"))
            stream = self._opened()
            if self._rotates() and self._size > 0 and self._size + size >= self.maxBytes:
                self.doRollover()  # leaves no stream when lazy
                stream = self._opened()
            stream.write(line)
            self._size += size
        except Exception:  # noqa: BLE001 (a log line must never break what it records)
            self.handleError(record)

    def _opened(self) -> io.TextIOWrapper:
        stream = self.stream
        if stream is None:  # lazy: opened on the first record
            stream = self.stream = self._open()
        return stream

    def _rotates(self) -> bool:
        return self.maxBytes > 0 and self.backupCount > 0 and self._regular

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (stdlib name)
        """Drop the record instead of printing a traceback to stderr."""


@dataclass(slots=True)
class _Route:
    handler: PrivateRotatingFileHandler
    users: int


class MissionRouter(logging.Handler):
    """Hands each record tagged with a mission to that mission's file (listener thread).

    Missions are added from the event loop (no I/O: files open on their first
    record) and removed by a :class:`DetachMarker` travelling the queue behind
    their last records, so nothing queued for a mission is lost when it closes.
    """

    def __init__(self, formatter: logging.Formatter) -> None:
        """``formatter`` renders every mission's lines."""
        super().__init__()
        self._formatter = formatter
        self._routes: dict[str, _Route] = {}
        self._routes_lock = threading.Lock()

    def add(self, mission_id: str, path: Path, level: int, max_bytes: int, backups: int) -> None:
        """Write ``mission_id``'s records of ``level`` and above to ``path`` from now on."""
        with self._routes_lock:
            route = self._routes.get(mission_id)
            if route is not None:
                route.users += 1  # the same mission opened again before its close was carried out
                return
            handler = PrivateRotatingFileHandler(path, max_bytes=max_bytes, backups=backups)
            handler.setLevel(level)
            handler.setFormatter(self._formatter)
            self._routes[mission_id] = _Route(handler, 1)

    def remove(self, mission_id: str) -> None:
        """Stop writing ``mission_id``'s records and close its file (once its last user left)."""
        with self._routes_lock:
            route = self._routes.get(mission_id)
            if route is None:
                return
            route.users -= 1
            if route.users > 0:
                return
            del self._routes[mission_id]
        route.handler.close()

    def levels(self) -> list[int]:
        """The level of every open mission file."""
        with self._routes_lock:
            return [route.handler.level for route in self._routes.values()]

    def emit(self, record: logging.LogRecord) -> None:
        """Route ``record``; carry out a :class:`DetachMarker`."""
        if isinstance(record, DetachMarker):
            try:
                if record.claim():
                    self.remove(record.mission_id)
            finally:
                record.done.set()
            return
        if isinstance(record, Marker):
            return
        mission_id = getattr(record, MISSION_KEY, None)
        if mission_id is None:
            return
        with self._routes_lock:
            route = self._routes.get(mission_id)
        if route is not None and record.levelno >= route.handler.level:
            route.handler.handle(record)

    def flush(self) -> None:
        """Flush every open mission file."""
        with self._routes_lock:
            handlers = [route.handler for route in self._routes.values()]
        for handler in handlers:
            handler.flush()

    def close(self) -> None:
        """Close every mission file."""
        with self._routes_lock:
            routes, self._routes = list(self._routes.values()), {}
        for route in routes:
            route.handler.close()
        super().close()
