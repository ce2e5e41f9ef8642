"""Errors of the configuration, each with a stable string ``code``.

The tree, all of it below :class:`~opencode_orchestrator.errors.OrchestratorError`::

    ConfigError               config           (the root; never raised itself)
    ├── ConfigFileError       config.file      a file cannot be read, is not JSONC, or its
    │                                          top level is not an object
    └── ConfigValueError      config.invalid   unknown keys or values the schema refuses
                                               (every problem found, in ``problems``)

Every message says where the culprit is: a file with line and column
(``path:line:column``), an environment variable or a command-line flag, so a
person can go straight to it. Messages are one line; a :class:`ConfigValueError`
with several problems joins them with ``; `` (``problems`` has them apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from opencode_orchestrator.errors import OrchestratorError

__all__ = ["ConfigError", "ConfigFileError", "ConfigValueError", "Problem"]


class ConfigError(OrchestratorError):
    """Root of every configuration error."""

    code: ClassVar[str] = "config"


class ConfigFileError(ConfigError):
    """A configuration file cannot be read, is not JSONC, or does not hold an object.

    Attributes:
        path: the file.
        reason: what is wrong with it.
        line: where, counted from 1, when the parser could tell.
        column: where, counted from 1, when the parser could tell.
    """

    code = "config.file"

    def __init__(
        self, path: Path, reason: str, *, line: int | None = None, column: int | None = None
    ) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        self.column = column
        where = f"{path}:{line}:{column}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused key or value.

    Attributes:
        key: the key's dotted path, e.g. ``limits.concurrency``.
        where: the source that set it: ``path:line:column``, ``environment
            VARIABLE`` or ``flag --name``.
        text: the whole sentence, e.g. ``...: limits.concurrency = 0: must be ...``.
    """

    key: str
    where: str
    text: str

    def __str__(self) -> str:
        return self.text


class ConfigValueError(ConfigError):
    """Keys or values the schema refuses; ``problems`` has each one."""

    code = "config.invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.text for p in problems))
