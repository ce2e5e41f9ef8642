"""Where configuration values come from: files, OpenCode's plugin options, environment, flags.

Each source is read into a :class:`Layer`: the values it sets (a nested
object, as in a file) and, for every key path, the :class:`Origin` to cite
when a value is shown or refused (a file with line and column, an
environment variable, a flag). :mod:`.loader` stacks the layers.

The files (all optional; each must hold one JSON object; JSONC: comments and
trailing commas are allowed):

* ``orchestrator.json`` and ``orchestrator.jsonc`` in the user's
  ``$XDG_CONFIG_HOME/opencode/`` (default ``~/.config/opencode/``) and in the
  project's ``.opencode/`` (when both names exist, ``.jsonc`` is read last);
* OpenCode's own ``opencode.json(c)`` files, globally and in the project
  directory itself (the files of a :class:`~.opencode_files.Scope`, fewer than
  OpenCode reads): the options object of the orchestrator's
  ``plugin`` entry. Its keys that belong to the plugin shim (:data:`SHIM_OPTION_KEYS`)
  are the shim's business and skipped here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, cast

from opencode_orchestrator.config.errors import ConfigFileError
from opencode_orchestrator.config.jsonc import (
    AnyNode,
    JsonArray,
    JsoncError,
    JsonObject,
    parse,
    to_python,
)
from opencode_orchestrator.config.opencode_files import Scope, is_our_entry

__all__ = [
    "CONTENT_VARIABLE",
    "ENVIRONMENT",
    "SHIM_OPTION_KEYS",
    "KeyPath",
    "Layer",
    "Origin",
    "environment_layers",
    "orchestrator_file_layers",
    "plugin_option_layers",
    "read_object",
]

KeyPath: TypeAlias = tuple[str | int, ...]
Kind = Literal["default", "file", "plugin", "env", "flag"]

FILE_NAMES: Final = ("orchestrator.json", "orchestrator.jsonc")
"""The orchestrator's own files, in reading order (the later one wins a conflict)."""

SHIM_OPTION_KEYS: Final = frozenset(
    {
        "command",
        "logFile",
        "requestTimeoutMs",
        "scopeTimeoutMs",
        "startupTimeoutMs",
        "maxRestarts",
        "restartWindowMs",
        "serverAccess",
    }
)
"""The plugin shim's own options (``DEFAULT_OPTIONS`` in ``plugin-shim/src/options.ts``)."""

CONTENT_VARIABLE: Final = "OPENCODE_ORCHESTRATOR_CONFIG_CONTENT"
"""A whole configuration object (JSONC) in one variable, like ``OPENCODE_CONFIG_CONTENT``."""

ENVIRONMENT: Final[Mapping[str, KeyPath]] = {
    "OPENCODE_ORCHESTRATOR_WAL_FSYNC": ("wal", "fsync"),
}
"""Variables that set one key each (they win over :data:`CONTENT_VARIABLE`)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one value came from.

    Attributes:
        kind: ``default``, ``file`` (an orchestrator file), ``plugin`` (the plugin's
            options in an ``opencode.json(c)``), ``env`` or ``flag``.
        name: the file's path, the variable's or the flag's name (empty for a default).
        line: the value's line in the file, counted from 1.
        column: the value's column, counted from 1.
    """

    kind: Kind
    name: str = ""
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.kind == "default":
            return "default"
        if self.kind == "env" and self.line is None:
            return f"environment {self.name}"
        if self.kind == "flag":
            return f"flag {self.name}"
        where = f"{self.name}:{self.line}:{self.column}" if self.line is not None else self.name
        if self.kind == "env":
            return f"environment {where}"
        return f"{where} (plugin options)" if self.kind == "plugin" else where


DEFAULT: Final = Origin("default")


@dataclass(frozen=True, slots=True)
class Layer:
    """One source's values, and where each of them is.

    Attributes:
        values: the keys it sets, nested as in a file.
        origins: the origin of every key path it holds (objects, list elements and
            leaves alike); a path not in it takes its nearest ancestor's.
    """

    values: dict[str, Any]
    origins: dict[KeyPath, Origin] = field(default_factory=dict)

    def origin(self, path: KeyPath) -> Origin:
        """The origin of ``path``, or of its nearest ancestor this layer holds."""
        for end in range(len(path), -1, -1):
            found = self.origins.get(path[:end])
            if found is not None:
                return found
        return DEFAULT


def read_object(path: Path) -> tuple[str, JsonObject] | None:
    """The text of ``path`` and its top-level object; ``None`` if there is no such file.

    Raises:
        ConfigFileError: it cannot be read, is not JSONC, or its top level is no object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigFileError(path, f"cannot be read: {exc.strerror or exc}") from None
    return text, _object(text, path)


def _object(text: str, path: Path) -> JsonObject:
    try:
        root = parse(text)
    except JsoncError as exc:
        raise ConfigFileError(
            path, f"not valid JSONC: {exc.reason}", line=exc.line, column=exc.column
        ) from None
    if not isinstance(root, JsonObject):
        line, column = _line_column(text, root.start)
        raise ConfigFileError(path, "must hold a JSON object", line=line, column=column)
    return root


def orchestrator_file_layers(directory: Path) -> list[Layer]:
    """The layers of ``orchestrator.json`` and ``orchestrator.jsonc`` in ``directory``.

    Raises:
        ConfigFileError: one of them cannot be read, is not JSONC or holds no object.
    """
    layers = []
    for name in FILE_NAMES:
        path = directory / name
        found = read_object(path)
        if found is not None:
            text, root = found
            layers.append(_layer(root, text, "file", str(path)))
    return layers


def plugin_option_layers(scope: Scope) -> list[Layer]:
    """The orchestrator's keys in the plugin options of ``scope``'s OpenCode files.

    A file without our entry, or whose entry has no options object, adds nothing
    (the shim warns about options that are not an object). With several entries
    of ours in one file, the last counts, as in OpenCode.

    Raises:
        ConfigFileError: a file cannot be read, is not JSONC or holds no object.
    """
    layers = []
    for path in _reading_order(scope):
        found = read_object(path)
        if found is None:
            continue
        text, root = found
        options = _our_options(root, path.parent)
        if options is None:
            continue
        kept = JsonObject(
            options.start,
            options.end,
            [m for m in options.members if m.key not in SHIM_OPTION_KEYS],
        )
        if kept.members:
            layers.append(_layer(kept, text, "plugin", str(path)))
    return layers


def environment_layers(environ: Mapping[str, str] | None = None) -> list[Layer]:
    """:data:`CONTENT_VARIABLE`'s object, then :data:`ENVIRONMENT`'s keys (empty: unset).

    Raises:
        ConfigFileError: :data:`CONTENT_VARIABLE` is not JSONC or holds no object
            (the "file" named is the variable).
    """
    env = os.environ if environ is None else environ
    layers = []
    content = env.get(CONTENT_VARIABLE)
    if content:
        root = _object(content, Path(CONTENT_VARIABLE))
        layers.append(_layer(root, content, "env", CONTENT_VARIABLE))
    values: dict[str, Any] = {}
    origins: dict[KeyPath, Origin] = {}
    for variable, path in ENVIRONMENT.items():
        value = env.get(variable)
        if value:
            set_path(values, path, value)
            origins[path] = Origin("env", variable)
    return [*layers, Layer(values, origins)]


def set_path(values: dict[str, Any], path: KeyPath, value: Any) -> None:
    """Set ``values[path[0]][path[1]]...`` to ``value``, making the objects on the way."""
    node = values
    for key in path[:-1]:
        node = node.setdefault(str(key), {})
    node[str(path[-1])] = value


def _reading_order(scope: Scope) -> list[Path]:
    # OpenCode's merge order: global config.json first; the rest as the scope lists them.
    if scope.kind == "global":
        return [*scope.others, *scope.targets]
    return list(scope.files)


def _our_options(root: JsonObject, config_dir: Path) -> JsonObject | None:
    member = root.last("plugin")
    if member is None or not isinstance(member.value, JsonArray):
        return None
    options = None
    for element in member.value.elements:
        entry = element.value
        if not isinstance(entry, JsonArray) or not is_our_entry(to_python(entry), config_dir, None):
            continue
        second = entry.elements[1].value if len(entry.elements) > 1 else None
        options = second if isinstance(second, JsonObject) else None
    return options


def _layer(root: JsonObject, text: str, kind: Kind, name: str) -> Layer:
    origins: dict[KeyPath, Origin] = {}

    def walk(node: AnyNode, path: KeyPath, start: int) -> None:
        # A member is cited where its key is written (an unknown key is the culprit).
        line, column = _line_column(text, start)
        origins[path] = Origin(kind, name, line, column)
        if isinstance(node, JsonObject):
            # A key written twice counts once, its last time (as in to_python):
            # the earlier one's subtree must cite nothing.
            for member in {m.key: m for m in node.members}.values():
                walk(member.value, (*path, member.key), member.key_start)
        elif isinstance(node, JsonArray):
            for index, element in enumerate(node.elements):
                walk(element.value, (*path, index), element.value.start)

    walk(root, (), root.start)
    return Layer(cast("dict[str, Any]", to_python(root)), origins)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
