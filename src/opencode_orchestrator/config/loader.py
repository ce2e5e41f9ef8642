"""The effective configuration: every source stacked, validated, each value with its origin.

Precedence, lowest first (a later source wins; objects merge key by key, a
list or any other value replaces the one before it whole)::

    1. built-in defaults
    2. the user's OpenCode config ($XDG_CONFIG_HOME/opencode/{config,opencode}.json(c)):
       the orchestrator's keys in its plugin options
    3. the user's $XDG_CONFIG_HOME/opencode/orchestrator.json(c)
    4. the project's opencode.json(c), .opencode/opencode.json(c): plugin options
    5. the project's .opencode/orchestrator.json(c)
    6. the environment: OPENCODE_ORCHESTRATOR_CONFIG_CONTENT (a JSONC object), then
       the one-key variables (OPENCODE_ORCHESTRATOR_WAL_FSYNC)
    7. command-line flags

The project beats the user, and within each, the orchestrator's own file beats
the options embedded in OpenCode's file: it is the more specific place, the
one ``config --show`` points people to. The environment and flags are set for
one run and so beat every file.

Types are strict, as JSON has them: an integer key takes an integer only (not
``"4"``, ``4.0`` or ``true``), a number an integer or a decimal, ``true`` or
``false`` nothing else, a string a string. Only a one-key environment variable
or a flag, text by nature, is read as the type its key holds (``"4"`` → 4).

Reading the files is blocking I/O: callers on an event loop run :func:`load_config`
in a worker thread.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from opencode_orchestrator.config.describe import describe, field_keys, slot_at
from opencode_orchestrator.config.errors import ConfigValueError, Problem
from opencode_orchestrator.config.opencode_files import global_scope, project_scope
from opencode_orchestrator.config.schema import OrchestratorConfig
from opencode_orchestrator.config.sources import (
    DEFAULT,
    KeyPath,
    Layer,
    Origin,
    environment_layers,
    orchestrator_file_layers,
    plugin_option_layers,
    set_path,
)

__all__ = ["Effective", "dotted", "flag_layer", "load_config", "resolve", "source_layers"]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def dotted(path: KeyPath) -> str:
    """``("limits", "concurrency")`` → ``limits.concurrency``; list items as ``[0]``."""
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            part = key if _PLAIN_KEY.match(key) else json.dumps(key, ensure_ascii=False)
            text += f".{part}" if text else part
    return text


@dataclass(frozen=True, slots=True)
class Effective:
    """The configuration in force and where each of its values came from."""

    config: OrchestratorConfig
    origins: Mapping[KeyPath, Origin]

    def origin(self, path: KeyPath) -> Origin:
        """Who set the value at ``path`` (``default`` when no source did)."""
        return self.origins.get(path, DEFAULT)

    def entries(self) -> list[tuple[str, Any, Origin]]:
        """Every value (``limits.concurrency``, 8, its origin), in the schema's order."""
        return [
            (dotted(path), value, self.origin(path))
            for path, value in _leaves(self.config.model_dump(mode="json"), ())
        ]


def _leaves(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    else:
        yield path, value


def source_layers(project: Path | None, environ: Mapping[str, str] | None = None) -> list[Layer]:
    """The layers of every file and the environment, lowest precedence first.

    Raises:
        ConfigFileError: a file cannot be read, is not JSONC or holds no object.
    """
    user = global_scope(environ)
    layers = [*plugin_option_layers(user), *orchestrator_file_layers(user.directory)]
    if project is not None:
        layers += plugin_option_layers(project_scope(project))
        layers += orchestrator_file_layers(project / ".opencode")
    layers += environment_layers(environ)
    return layers


def flag_layer(flags: Mapping[KeyPath, tuple[str, Any]]) -> Layer:
    """A layer of command-line flags: ``{("limits", "concurrency"): ("--concurrency", 4)}``."""
    values: dict[str, Any] = {}
    origins: dict[KeyPath, Origin] = {}
    for path, (flag, value) in flags.items():
        set_path(values, path, value)
        origins[path] = Origin("flag", flag)
    return Layer(values, origins)


def load_config(
    project: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    flags: Layer | None = None,
) -> Effective:
    """The effective configuration of ``project`` (``None``: the user's alone).

    Raises:
        ConfigFileError: a file cannot be read, is not JSONC or holds no object.
        ConfigValueError: an unknown key, or a value the schema refuses.
    """
    layers = source_layers(project, environ)
    if flags is not None:
        layers.append(flags)
    return resolve(layers)


def resolve(layers: Sequence[Layer]) -> Effective:
    """Stack ``layers`` (lowest precedence first) and validate the result.

    Raises:
        ConfigValueError: an unknown key, or a value the schema refuses.
    """
    values: dict[str, Any] = {}
    origins: dict[KeyPath, Origin] = {}
    for layer in layers:
        _merge(values, layer.values, (), layer, origins)
    _read_text_values(values, origins)
    try:
        # JSON mode, strict: a file's "4" is no integer, yet "reject" is a PermissionPolicy.
        config = OrchestratorConfig.model_validate_json(
            json.dumps(values, allow_nan=True), strict=True
        )
    except ValidationError as exc:
        problems = [_problem(error, values, origins) for error in exc.errors()]
        raise ConfigValueError(problems) from None
    return Effective(config, origins)


def _from_text(origin: Origin) -> bool:
    """Whether a value from ``origin`` is text by nature: a one-key variable or a flag."""
    return origin.kind == "flag" or (origin.kind == "env" and origin.line is None)


_SCALARS: Final = (bool, int, float)


def _read_text_values(values: dict[str, Any], origins: Mapping[KeyPath, Origin]) -> None:
    """Read the text an environment variable or flag gives an int, float or bool key as one.

    Text that does not read as the key's type is left as it is, for validation
    to refuse with its origin.
    """
    for path, origin in origins.items():
        if not path or not _from_text(origin):
            continue
        parent = _child_path(values, path[:-1])
        if not isinstance(parent, dict) or not isinstance(parent.get(path[-1]), str):
            continue
        slot = slot_at(OrchestratorConfig, path)
        kind = slot.annotation if slot is not None else None
        if kind not in _SCALARS:
            continue
        try:
            parent[path[-1]] = TypeAdapter(kind).validate_python(parent[path[-1]].strip())
        except ValidationError:
            continue


def _child_path(values: Any, path: KeyPath) -> Any:
    node = values
    for key in path:
        node = _child(node, key)
        if node is _ABSENT:
            return _ABSENT
    return node


def _merge(
    target: dict[str, Any],
    source: Mapping[str, Any],
    path: KeyPath,
    layer: Layer,
    origins: dict[KeyPath, Origin],
) -> None:
    for key, value in source.items():
        here = (*path, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, here, layer, origins)
            continue
        target[key] = copy.deepcopy(value)
        for stale in [p for p in origins if p[: len(here)] == here]:
            del origins[stale]
        origins.update({p: o for p, o in layer.origins.items() if p[: len(here)] == here})


def _input_path(values: Any, loc: tuple[str | int, ...], missing: bool) -> KeyPath:
    """The part of pydantic's ``loc`` that names keys of the input (not union branches)."""
    path: list[str | int] = []
    node = values
    for key in loc:
        child = _child(node, key)
        if child is _ABSENT:
            if missing:
                path.append(key)
            break
        node = child
        path.append(key)
    return tuple(path)


_ABSENT: Any = object()


def _child(node: Any, key: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(key, _ABSENT)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _ABSENT


def _nearest(origins: Mapping[KeyPath, Origin], path: KeyPath) -> Origin:
    for end in range(len(path), -1, -1):
        found = origins.get(path[:end])
        if found is not None:
            return found
    return DEFAULT


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _problem(
    error: ErrorDetails, values: dict[str, Any], origins: Mapping[KeyPath, Origin]
) -> Problem:
    kind = error["type"]
    path = _input_path(values, tuple(error["loc"]), missing=kind == "missing")
    key = dotted(path)
    where = str(_nearest(origins, path))
    if kind == "extra_forbidden":
        valid = field_keys(OrchestratorConfig, path[:-1])
        close = difflib.get_close_matches(str(path[-1]), valid, n=3, cutoff=0.75)
        parent = dotted(path[:-1])
        prefix = f"{parent}." if parent else ""
        hint = (
            "did you mean " + " or ".join(prefix + c for c in close) + "?"
            if close
            else f"valid keys{' of ' + parent if parent else ''}: " + ", ".join(valid)
        )
        return Problem(key, where, f"{where}: unknown key {key} ({hint})")
    slot = slot_at(OrchestratorConfig, path)
    allowed = describe(slot) if slot is not None else error["msg"]
    if kind == "missing":
        return Problem(key, where, f"{where}: {key} is missing: it must be {allowed}")
    shown = _shown(error["input"])
    return Problem(key, where, f"{where}: {key} = {shown} is not allowed: it must be {allowed}")
