"""Structured logging for the core: JSON lines on stderr and, optionally, a file.

stdout of ``serve`` is the JSON-RPC wire, so nothing here ever writes to it.
Secrets are redacted before a record is rendered: any key that names an
authorisation header, an API key, a token or a password has its value replaced,
at any depth of the event dictionary.

Logging never blocks the event loop: loggers only put records on a bounded
queue, and one listener thread renders and writes them. If the reader of
stderr stalls (a plugin shim that stops draining the pipe), the queue fills and
further records are dropped and counted, never waited on; the count is logged
once there is room again. :func:`flush_logging` waits, with a bound, for what
is queued to be written::

    logger ──put_nowait──► queue (bounded) ──► listener thread ──► stderr, file
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, Final, Literal

import orjson
import structlog
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "QUEUE_SIZE",
    "REDACTED",
    "LogLevel",
    "LogSettings",
    "configure_logging",
    "flush_logging",
    "get_logger",
    "redact",
    "shutdown_logging",
]

REDACTED: Final = "[REDACTED]"
QUEUE_SIZE: Final = 10_000
"""Records held for the listener thread before new ones are dropped."""

LogLevel = Literal["debug", "info", "warning", "error"]


class LogSettings(BaseModel):
    """The ``log`` section of the configuration: a mission's own log file.

    Every mission writes ``mission.log`` in its directory at ``level``,
    whatever the terminal shows, rotated at ``max_bytes`` with ``backups``
    older files kept (``mission.log.1`` … ``mission.log.N``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: LogLevel = "info"
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024)
    """Size at which ``mission.log`` is rotated; at least 64 KiB."""
    backups: int = Field(default=5, ge=1, le=100)
    """Rotated files kept; at least one, else the file would never rotate and grow unbounded."""


_SECRET_KEY = re.compile(
    r"(authori[sz]ation|api[-_]?key|apikey|password|passwd|secret|token|cookie|credential)",
    re.IGNORECASE,
)
# Values that look like credentials even under an innocent key.
_SECRET_VALUE = re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]+|\bsk-[A-Za-z0-9_-]{6,}")

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def redact(value: Any) -> Any:
    """Return ``value`` with secrets replaced by :data:`REDACTED`, recursively."""
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    return value


def _redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return redact(event_dict)  # type: ignore[no-any-return]


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


class _FlushMarker(logging.LogRecord):
    """Not a log line: tells the listener's flush handler that all before it is written."""

    def __init__(self) -> None:
        super().__init__("opencode_orchestrator.log", logging.CRITICAL, "", 0, "", None, None)
        self.done = threading.Event()


def _not_a_marker(record: logging.LogRecord) -> bool:
    return not isinstance(record, _FlushMarker)


class _FlushHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record, _FlushMarker):
            try:
                for handler in _state.outputs:
                    try:
                        handler.flush()
                    except (OSError, ValueError):
                        # A closed or broken output must not kill the listener
                        # thread: every later record would be lost with it.
                        continue
            finally:
                record.done.set()


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Enqueue without ever blocking; count what a full queue refuses."""

    def __init__(self, records: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(records)
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The listener renders in-process: keep the record (and structlog's
        # event dict in record.msg) intact instead of pre-formatting it.
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
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
        except queue.Full:
            self.dropped += 1


class _LoggingState:
    def __init__(self) -> None:
        self.listener: logging.handlers.QueueListener | None = None
        self.queue_handler: _DroppingQueueHandler | None = None
        self.records: queue.Queue[logging.LogRecord] | None = None
        self.outputs: list[logging.Handler] = []


_state = _LoggingState()


def shutdown_logging(timeout: float = 2.0) -> None:
    """Write what is queued (within ``timeout``), stop the listener, close the outputs.

    Idempotent; :func:`configure_logging` may be called again afterwards. Runs
    at interpreter exit too.
    """
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
    try:
        records.put(marker, timeout=timeout)
    except queue.Full:
        return False
    return marker.done.wait(timeout)


def configure_logging(
    level: str = "info",
    *,
    log_file: Path | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
) -> None:
    """Route structlog through stdlib logging to stderr (and ``log_file``) as JSON.

    Args:
        level: one of debug, info, warning, error, critical.
        log_file: when given, also append JSON lines to this file, rotated by size.
        max_bytes: rotation size of ``log_file``.
        backups: rotated files kept.

    Raises:
        ValueError: ``level`` is not a known level name.
    """
    try:
        numeric = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(
            f"unknown log level {level!r}; expected one of {', '.join(_LEVELS)}"
        ) from None

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _redact_processor,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ],
        foreign_pre_chain=shared,
    )
    outputs: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        outputs.append(
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        )
    for handler in outputs:
        handler.setFormatter(formatter)
        handler.addFilter(_not_a_marker)

    shutdown_logging()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_SIZE)
    _state.outputs = outputs
    _state.records = records
    _state.queue_handler = _DroppingQueueHandler(records)
    _state.listener = logging.handlers.QueueListener(
        records, *outputs, _FlushHandler(), respect_handler_level=True
    )
    _state.listener.start()
    root.addHandler(_state.queue_handler)
    root.setLevel(numeric)

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to ``name`` (conventionally the module's ``__name__``)."""
    return structlog.get_logger(name, **initial)  # type: ignore[no-any-return]
