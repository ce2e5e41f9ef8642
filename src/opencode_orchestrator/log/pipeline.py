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
import queue
import threading
from pathlib import Path
from typing import Any

import structlog

from opencode_orchestrator.log.handlers import (
    CurrentStderrHandler,
    DroppingQueueHandler,
    GatheringListener,
)
from opencode_orchestrator.log.processors import (
    exception_now,
    merge_record_context,
    orjson_dumps,
    timestamp_of_record,
)
from opencode_orchestrator.log.redaction import redact_processor
from opencode_orchestrator.log.routing import (
    DetachMarker,
    Marker,
    MissionRouter,
    PrivateRotatingFileHandler,
    not_a_marker,
)
from opencode_orchestrator.log.settings import LogSettings, level_number

__all__ = [
    "attach_mission",
    "configure_logging",
    "detach_mission",
    "flush_logging",
    "force_verbosity",
    "shutdown_logging",
]


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


class _LoggingState:
    def __init__(self) -> None:
        self.listener: GatheringListener | None = None
        self.queue_handler: DroppingQueueHandler | None = None
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
        exception_now,
        structlog.processors.StackInfoRenderer(),
    ]
    on_listener: list[Any] = [
        structlog.processors.add_log_level,
        timestamp_of_record,
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            *on_listener,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(serializer=orjson_dumps),
        ],
        foreign_pre_chain=[merge_record_context, *on_listener],
    )
    outputs: list[logging.Handler] = [CurrentStderrHandler()]
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
    _state.queue_handler = DroppingQueueHandler(records)
    _state.listener = GatheringListener(
        records, *outputs, router, _FlushHandler(), flush=_flush_outputs
    )
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
