"""Log levels by name, the terminal's level from the environment, and a mission file's settings."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LEVELS", "LEVEL_VARIABLE", "LogLevel", "LogSettings", "level_number", "terminal_level"]

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

LogLevel = Literal["debug", "info", "warning", "error"]

LEVEL_VARIABLE: Final = "OPENCODE_ORCHESTRATOR_LOG_LEVEL"
"""The environment variable naming stderr's level when no flag does."""


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


def terminal_level(flag: str | None, default: str, environ: Mapping[str, str] | None = None) -> str:
    """The terminal's level: ``flag``, else :data:`LEVEL_VARIABLE`, else ``default``.

    ``flag`` is a command's ``--log-level`` (``None``: not given); an empty
    variable counts as unset.

    ``-v`` is not among them: :func:`~opencode_orchestrator.log.force_verbosity`
    makes whatever this returns more verbose. The name is not checked here
    (:func:`level_number` does).
    """
    if flag:
        return flag
    env = os.environ if environ is None else environ
    return env.get(LEVEL_VARIABLE) or default


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
