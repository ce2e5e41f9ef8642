"""Structured logging for the core: JSON lines on stderr and, optionally, a file.

stdout of ``serve`` is the JSON-RPC wire, so nothing here ever writes to it.
Secrets are redacted before a record is rendered: any key that names an
authorisation header, an API key, a token or a password has its value replaced,
at any depth of the event dictionary.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, Final

import orjson
import structlog

__all__ = ["REDACTED", "configure_logging", "get_logger", "redact"]

REDACTED: Final = "[REDACTED]"

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
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
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
