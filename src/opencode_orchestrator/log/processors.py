"""The structlog processors of the pipeline that are ours.

Records are rendered on the listener thread, which has none of the caller's
context: what only the caller knows (its context variables, the exception it
handles) is taken in the caller's thread, and the rest is read back from the
stdlib record on the listener.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import orjson

from opencode_orchestrator.log.routing import CONTEXT_ATTRIBUTE

__all__ = ["exception_now", "merge_record_context", "orjson_dumps", "timestamp_of_record"]


def orjson_dumps(obj: Any, default: Any = None) -> str:
    """``json.dumps`` for structlog's JSON renderer, by orjson (anything unknown as ``str``)."""
    return orjson.dumps(obj, default=default or str).decode()


def merge_record_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Add the context variables :func:`~.routing.mission_of` kept on a stdlib record."""
    # A stdlib record is rendered on the listener thread, which has none of the
    # caller's context variables; mission_of() kept them on the record.
    record = event_dict.get("_record")
    context = getattr(record, CONTEXT_ATTRIBUTE, None)
    if context:
        for key, value in context.items():
            event_dict.setdefault(key, value)
    return event_dict


def exception_now(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Resolve ``exc_info=True`` to the exception being handled, in the caller's thread."""
    # ``exc_info=True`` (``log.exception``) means "the exception being handled":
    # resolved here, since the listener thread that renders it has none.
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


def timestamp_of_record(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Stamp the record's creation time (UTC, microseconds), not the time it is rendered."""
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
