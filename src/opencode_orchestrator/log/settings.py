"""Log levels by name, and the settings of a mission's own log file."""

from __future__ import annotations

import logging
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LEVELS", "LogLevel", "LogSettings", "level_number"]

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

LogLevel = Literal["debug", "info", "warning", "error"]


def level_number(name: str) -> int:
    """The stdlib level of ``name`` (any case).

    Raises:
        ValueError: not a known level name.
    """
    try:
        return LEVELS[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown log level {name!r}; expected one of {', '.join(LEVELS)}"
        ) from None


class LogSettings(BaseModel):
    """The ``log`` section of the configuration: a mission's own log file.

    Every mission writes ``mission.log`` in its directory at ``level``,
    whatever the terminal shows, rotated at ``max_bytes`` with ``backups``
    older files kept (``mission.log.1`` … ``mission.log.N``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    level: LogLevel = "info"
    """Least severe level written to ``mission.log`` (the terminal has its own)."""
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024)
    """Size at which ``mission.log`` is rotated; at least 64 KiB."""
    backups: int = Field(default=5, ge=1, le=100)
    """Rotated files kept; at least one, else the file would never rotate and grow unbounded."""
