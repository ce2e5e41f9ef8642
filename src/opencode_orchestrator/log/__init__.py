"""Structured logging for the core: JSON lines on stderr, a mission's own file, optionally more.

stdout of ``serve`` is the JSON-RPC wire, so nothing here ever writes to it.
Secrets are redacted before a record is rendered, in every output: any key
that names an authorisation header, an API key, a token or a password has its
value replaced, at any depth of the event dictionary (:mod:`.redaction`).

Logging never blocks the event loop: loggers only put records on a bounded
queue, and one listener thread renders and writes them (:mod:`.pipeline`).
If the reader of stderr stalls (a plugin shim that stops draining the pipe),
the queue fills and further records are dropped and counted, never waited
on. :func:`flush_logging` waits, with a bound, for what is queued to be written.

While a mission is open (:func:`mission_log`, entered by the engine) every
record made in its task tree carries its ``mission_id`` and is also written
to ``.opencode/orchestrator/missions/<id>/mission.log`` at the mission file's
own level (:class:`LogSettings`), so a mission's story is kept even when the
terminal shows only warnings (:mod:`.routing`).
"""

from __future__ import annotations

from opencode_orchestrator.log.handlers import QUEUE_SIZE
from opencode_orchestrator.log.loggers import get_logger
from opencode_orchestrator.log.mission import mission_log
from opencode_orchestrator.log.pipeline import (
    attach_mission,
    configure_logging,
    detach_mission,
    flush_logging,
    force_verbosity,
    shutdown_logging,
)
from opencode_orchestrator.log.redaction import REDACTED, redact
from opencode_orchestrator.log.routing import MISSION_KEY
from opencode_orchestrator.log.settings import LogLevel, LogSettings

__all__ = [
    "MISSION_KEY",
    "QUEUE_SIZE",
    "REDACTED",
    "LogLevel",
    "LogSettings",
    "attach_mission",
    "configure_logging",
    "detach_mission",
    "flush_logging",
    "force_verbosity",
    "get_logger",
    "mission_log",
    "redact",
    "shutdown_logging",
]
