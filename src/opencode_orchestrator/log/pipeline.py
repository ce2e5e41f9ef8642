"""The one logging pipeline of a process: loggers → bounded queue → listener thread → outputs.

::

    logger ──put_nowait──► queue (bounded) ──► listener thread ─┬─► stderr
                                                                ├─► --log-file
                                                                └─► mission router
                                                                      └─► <mission>/mission.log

Loggers never block: a full queue drops the record and counts it (the count
is logged once there is room again). Each output has its own level; loggers
filter at the lowest level any output currently wants, so a quiet terminal
costs nothing while no mission file is open.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
import threading
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Final

import orjson
import structlog

from opencode_orchestrator.log.redaction import redact_processor
from opencode_orchestrator.log.routing import (
    CONTEXT_ATTRIBUTE,
    MISSION_KEY,
    DetachMarker,
    Marker,
    MissionRouter,
    PrivateRotatingFileHandler,
    mission_of,
    not_a_marker,
)
from opencode_orchestrator.log.settings import LogSettings, level_number

__all__ = [
    "QUEUE_SIZE",
    "attach_mission",
    "configure_logging",
    "detach_mission",
    "flush_logging",
    "force_verbosity",
    "get_logger",
    "shutdown_logging",
]

QUEUE_SIZE: Final = 10_000
"""Records held for the listener thread before new ones are dropped."""


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def _merge_record_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # A stdlib record is rendered on the listener thread, which has none of the
    # caller's context variables; mission_of() kept them on the record.
    record = event_dict.get("_record")
    context = getattr(record, CONTEXT_ATTRIBUTE, None)
    if context:
        for key, value in context.items():
            event_dict.setdefault(key, value)
    return event_dict


def _exception_now(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # ``exc_info=True`` (``log.exception``) means "the exception being handled":
    # resolved here, since the listener thread that renders it has none.
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def _timestamp_of_record(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Rendered on the listener thread, so the time is the record's, taken
    # when it was made, not when it is written.
    global _second  # noqa: PLW0603 (a one-entry cache, replaced whole)
    record = event_dict.get("_record")
    created = record.created if isinstance(record, logging.LogRecord) else time.time()
    whole = int(created)
    cached = _second
    if cached[0] != whole:
        # Records come many a second: the date and time are formatted once a second.
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    event_dict["timestamp"] = f"{cached[1]}.{int((created - whole) * 1_000_000):06d}Z"
    return event_dict


_second: tuple[int, str] = (-1, "")


class _FlushMarker(Marker):
    """Tells the listener's flush handler that everything before it is written."""


def _flush_outputs() -> None:
    for handler in _state.outputs:
        try:
            handler.flush()
        except (OSError, ValueError):
            # A closed or broken output must not kill the listener thread:
            # every later record would be lost with it.
            continue


class _FlushHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record, _FlushMarker):
            try:
                _flush_outputs()
            finally:
                record.done.set()


GATHER_SECONDS: Final = 0.01
"""How long the listener, woken by a record, lets more gather before it writes."""


class _Listener(logging.handlers.QueueListener):
    """The listener thread, flushing its files whenever it has caught up.

    The files are not flushed per line (that was a system call per record):
    a burst is written in a few large writes, and nothing waits in a buffer
    while the listener idles. Woken from idle, it waits :data:`GATHER_SECONDS`
    before it starts: at a steady few thousand records a second (a large
    mission), waking per record cost a futex wake on the event loop and a
    tug-of-war for the GIL each time; a line now reaches its file at most
    that much later.
    """

    def __init__(
        self, records: queue.SimpleQueue[logging.LogRecord], *handlers: logging.Handler
    ) -> None:
        super().__init__(records, *handlers, respect_handler_level=True)
        self._records = records

    def dequeue(self, block: bool) -> logging.LogRecord:
        records = self._records
        if block and records.empty():
            _flush_outputs()
            record = records.get()
            time.sleep(GATHER_SECONDS)
            return record
        return records.get(block)


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Enqueue without ever blocking; count what a full queue refuses."""

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord]) -> None:
        super().__init__(records)
        self.dropped = 0
        # A SimpleQueue (C, no Condition to notify) has no bound of its own: an
        # approximate one, from its size, is all dropping needs.
        self._size = records.qsize

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The listener renders in-process: keep the record (and structlog's
        # event dict in record.msg) intact instead of pre-formatting it. Which
        # mission it belongs to is only known here, in the caller's context.
        setattr(record, MISSION_KEY, mission_of(record))
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        if self._size() >= QUEUE_SIZE:
            self.dropped += 1
            return
        if self.dropped:
            report = logging.LogRecord(
                "opencode_orchestrator.log",
                logging.WARNING,
                "",
                0,
                "%d log records dropped: the log output was not being read",
                (self.dropped,),
                None,
            )
            self.queue.put_nowait(report)
            self.dropped = 0
        self.queue.put_nowait(record)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is written.

    A live terminal view redirects ``sys.stderr`` while it draws, so that
    anything written there is printed above the view instead of through it; a
    handler holding the stream it was created with would tear the view apart.
    """

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass  # always the current sys.stderr


class _LoggingState:
    def __init__(self) -> None:
        self.listener: _Listener | None = None
        self.queue_handler: _DroppingQueueHandler | None = None
        self.records: queue.SimpleQueue[logging.LogRecord] | None = None
        self.outputs: list[logging.Handler] = []
        self.router: MissionRouter | None = None
        self.level = logging.WARNING
        self.forced: int | None = None
        self.levels_lock = threading.Lock()


_state = _LoggingState()


def shutdown_logging(timeout: float = 2.0) -> None:
    """Write what is queued (within ``timeout``), stop the listener, close the outputs.

    Idempotent; :func:`configure_logging` may be called again afterwards. Runs
    at interpreter exit too. Mission files still open are closed, and
    :func:`force_verbosity` is forgotten.
    """
    _stop(timeout)
    _state.forced = None


def _stop(timeout: float) -> None:
    flushed = flush_logging(timeout)
    listener, _state.listener = _state.listener, None
    if listener is not None and flushed:
        # Joining a listener stuck on a blocked stderr would hang the exit.
        listener.stop()
    handler, _state.queue_handler = _state.queue_handler, None
    if handler is not None:
        logging.getLogger().removeHandler(handler)
    for output in _state.outputs:
        output.close()
    _state.outputs = []
    _state.router = None
    _state.records = None


atexit.register(shutdown_logging)


def flush_logging(timeout: float = 2.0) -> bool:
    """Wait until every record queued so far is written, at most ``timeout`` seconds.

    Returns:
        True when everything was written, False on timeout (or if logging was
        never configured there is nothing to wait for, and this returns True).
    """
    records = _state.records
    if records is None or _state.listener is None:
        return True
    marker = _FlushMarker()
    records.put(marker)  # markers are never dropped: the queue's bound is for records
    return marker.done.wait(timeout)


def force_verbosity(level: str | None) -> None:
    """Show at least ``level`` on stderr, whatever a command configures later (``--verbose``).

    Commands may call :func:`configure_logging` with their own level (``serve``,
    ``demo``); the user's ``-v`` wins over them. ``None`` lifts it.

    Raises:
        ValueError: ``level`` is not a known level name.
    """
    _state.forced = None if level is None else level_number(level)
    if _state.listener is not None:
        _apply_levels()


def configure_logging(
    level: str = "info",
    *,
    log_file: Path | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
) -> None:
    """Route structlog through stdlib logging to stderr (and ``log_file``) as JSON.

    Args:
        level: one of debug, info, warning, error, critical: stderr's (and
            ``log_file``'s) level, made more verbose by :func:`force_verbosity`.
        log_file: when given, also append JSON lines to this file, rotated by
            size. It and its rotated copies are 0600, and the directories it
            creates for it 0700, whatever the umask; an existing directory is
            left as it is.
        max_bytes: rotation size of ``log_file``.
        backups: rotated files kept.

    Raises:
        ValueError: ``level`` is not a known level name.
        OSError: ``log_file`` cannot be created or opened (it is opened here,
            so that a wrong path is reported at once, not lost on the listener thread).
    """
    numeric = level_number(level)
    # Only what needs the caller's thread runs there (its context variables,
    # its exception, its stack); the rest of the work, a good part of a
    # record's cost, runs on the listener thread, off the event loop.
    in_caller: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _exception_now,
        structlog.processors.StackInfoRenderer(),
    ]
    on_listener: list[Any] = [
        structlog.processors.add_log_level,
        _timestamp_of_record,
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            *on_listener,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ],
        foreign_pre_chain=[_merge_record_context, *on_listener],
    )
    outputs: list[logging.Handler] = [_CurrentStderr()]
    if log_file is not None:
        outputs.append(
            PrivateRotatingFileHandler(
                log_file, max_bytes=max_bytes, backups=backups, lazy=False, own_directory=False
            )
        )
    for handler in outputs:
        handler.setFormatter(formatter)
        handler.addFilter(not_a_marker)
    router = MissionRouter(formatter)

    _stop(2.0)
    # The Logging HOWTO's optimisations: no line shows where a call was made,
    # nor its thread or process, so records need not look them up (walking
    # the caller's frames was a tenth of a record's cost on the event loop).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _state.outputs = [*outputs, router]
    _state.router = router
    _state.records = records
    _state.level = numeric
    _state.queue_handler = _DroppingQueueHandler(records)
    _state.listener = _Listener(records, *outputs, router, _FlushHandler())
    _state.listener.start()
    root.addHandler(_state.queue_handler)
    structlog.configure(
        processors=[*in_caller, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    _apply_levels()  # sets the outputs' levels and the loggers' filter


def attach_mission(mission_id: str, path: Path, settings: LogSettings | None = None) -> bool:
    """Write the records of ``mission_id`` to ``path`` as well, from now on.

    Does no I/O (the file is created, 0600, by the listener thread on the
    first record), so it may run on the event loop. ``settings``: the
    configuration's ``log`` section (default: its defaults). Returns False,
    doing nothing, when logging is not configured.
    """
    router = _state.router
    if router is None:
        return False
    settings = settings or LogSettings()
    router.add(mission_id, path, level_number(settings.level), settings.max_bytes, settings.backups)
    _apply_levels()
    return True


def detach_mission(mission_id: str, timeout: float = 2.0) -> None:
    """Close ``mission_id``'s file once every record queued for it is written.

    Blocks up to ``timeout`` (waiting for the listener): run it in a worker
    thread. On timeout the file is closed at once; what
    was still queued for it is not written there.
    """
    router, records = _state.router, _state.records
    if router is None or records is None:
        return
    marker = DetachMarker(mission_id)
    records.put(marker)
    if not marker.done.wait(timeout) and marker.claim():
        router.remove(mission_id)  # the marker, reached later, does nothing
    _apply_levels()


def _apply_levels() -> None:
    """Let loggers through at the lowest level any output wants now."""
    with _state.levels_lock:
        router = _state.router
        stderr = _state.level if _state.forced is None else min(_state.level, _state.forced)
        for output in _state.outputs:
            if output is not router:
                output.setLevel(stderr)
        lowest = min([stderr, *(router.levels() if router is not None else [])])
        logging.getLogger().setLevel(lowest)
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(lowest))


def get_logger(name: str, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to ``name`` (conventionally the module's ``__name__``).

    It follows every later ``structlog.configure`` (levels change at run time,
    tests capture logs), as structlog's lazy proxy does, but builds its bound
    logger once per configuration rather than once per call.
    """
    proxy = structlog.get_logger(name, **initial)
    if _STRUCTLOG_CONFIG is None:  # a structlog without the attributes read below
        return proxy  # type: ignore[no-any-return]
    return _Logger(proxy)  # type: ignore[return-value]


_STRUCTLOG_CONFIG: Final[Any] = getattr(getattr(structlog, "_config", None), "_CONFIG", None)
"""structlog's global configuration object (private; :func:`get_logger` falls back without it)."""


class _Logger:
    """A bound logger rebuilt only when structlog's configuration changed.

    structlog's lazy proxy (``cache_logger_on_first_use`` off, since levels
    change at run time) assembles a bound logger on every call: a stdlib
    logger lookup, a context and a wrapper, a third of a journal record's
    logging cost on the event loop. This keeps the one it assembled, keyed on
    the configuration fields the assembly reads; ``configure`` replaces them.
    """

    __slots__ = ("_bound", "_key", "_proxy")

    def __init__(self, proxy: Any) -> None:
        self._proxy = proxy
        self._key: tuple[Any, ...] = ()
        self._bound: Any = None

    def _current(self) -> Any:
        config = _STRUCTLOG_CONFIG
        key = self._key
        if (
            not key
            or key[0] is not config.default_processors
            or key[1] is not config.default_wrapper_class
            or key[2] is not config.default_context_class
            or key[3] is not config.logger_factory
        ):
            self._bound = self._proxy.bind()
            self._key = (
                config.default_processors,
                config.default_wrapper_class,
                config.default_context_class,
                config.logger_factory,
            )
        return self._bound

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)

    def __repr__(self) -> str:
        return f"<get_logger {self._proxy!r}>"
