"""Entries of ours in several places of one scope: the options the one kept must hold.

Two readers take options from those entries, each in its own way:

* OpenCode 1.18.33 joins the ``plugin`` lists of a scope's files in their
  reading order and loads a plugin named twice once, with the options of the
  **last** entry naming it (``deduplicatePluginOrigins`` in its bundled source).
  The plugin shim's own options (:data:`~opencode_orchestrator.config.SHIM_OPTION_KEYS`)
  are therefore those of the last entry of ours; the other entries' are not in force.
* The core reads the orchestrator's keys itself
  (:func:`opencode_orchestrator.config.sources.plugin_option_layers`): in each
  file the last entry of ours written as a list, the files merged in reading
  order, object by object, a later file winning.

``install`` keeps one entry. :func:`merged_options` is what that entry must hold
for both readings to give what they give today. It refuses when an option
written in some entry is not in force (another entry overrides it, or it is
in an entry OpenCode or the core passes over): keeping it would change the
configuration in force, and dropping it would lose what a user wrote.
``command`` is left out: ``install`` sets it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from opencode_orchestrator.config import SHIM_OPTION_KEYS, KeyPath, dotted
from opencode_orchestrator.config.jsonc import JsonValue

__all__ = ["Holder", "OptionConflictError", "merged_options", "option_keys", "options_of"]

_INSTALLED: Final = "command"
"""The one option ``install`` writes itself."""


class _Missing:
    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<not set>"


_MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class Holder:
    """One config file and the entries of ours it holds, in the list's order."""

    path: Path
    entries: Sequence[JsonValue]


class OptionConflictError(ValueError):
    """Two entries of ours set an option differently; no single entry can keep both."""


def options_of(entry: JsonValue) -> dict[str, JsonValue] | None:
    """The options object of a ``plugin`` entry (``None``: a bare path, or not an object)."""
    if isinstance(entry, list) and len(entry) > 1 and isinstance(entry[1], dict):
        return entry[1]
    return None


def option_keys(entry: JsonValue, kept: JsonValue) -> list[str]:
    """The top-level options of ``entry`` (``command`` aside) that ``kept`` lacks in part."""
    options = options_of(entry) or {}
    have = options_of(kept) or {}
    return [
        key
        for key, value in options.items()
        if key != _INSTALLED
        and any(not _same(v, _lookup(have, p)) for p, v in _leaves({key: value}))
    ]


def merged_options(holders: Sequence[Holder]) -> dict[str, JsonValue]:
    """The options (``command`` aside) of every entry of ours, as they are in force today.

    ``holders`` are in OpenCode's reading order. The keys come in the order they
    are first written.

    Raises:
        OptionConflictError: an option written in one entry is not in force; the
            message names the file it is in and the file whose entry wins over it.
    """
    core, origins = _core_options(holders)
    everything = [(h.path, e) for h in holders for e in h.entries]
    if not everything:
        return {}
    last_path, last = everything[-1]
    shim = {
        key: value
        for key, value in (options_of(last) or {}).items()
        if key in SHIM_OPTION_KEYS and key != _INSTALLED
    }
    order: dict[str, None] = {}
    conflicts: list[str] = []
    for holder in holders:
        core_entry = _core_entry(holder)
        for entry in holder.entries:
            options = options_of(entry)
            if options is None:
                continue
            order.update(dict.fromkeys(options))
            for path, value in _leaves(options):
                if path[0] in SHIM_OPTION_KEYS:
                    in_force, where = shim, last_path
                elif entry is core_entry:
                    in_force, where = core, _origin(origins, path, holder.path)
                else:  # a later entry in the same file is the one the core reads
                    in_force, where = core, holder.path
                if not _same(value, _lookup(in_force, path)):
                    conflicts.append(_conflict(holder.path, where, path, value, in_force))
    if conflicts:
        raise OptionConflictError(
            "the orchestrator's plugin entry is written more than once, and the options "
            f"disagree: {'; '.join(conflicts)}. Keeping one entry would change what is in "
            "force or drop what you wrote: make the entries agree, or remove all but one, "
            "then run install again; nothing was changed"
        )
    merged = {**core, **shim}
    return {key: merged[key] for key in order if key in merged}


def _core_entry(holder: Holder) -> JsonValue | None:
    """The entry of ``holder`` the core reads: its last entry of ours written as a list."""
    lists = [e for e in holder.entries if isinstance(e, list)]
    return lists[-1] if lists else None


def _core_options(
    holders: Sequence[Holder],
) -> tuple[dict[str, JsonValue], dict[KeyPath, Path]]:
    """The orchestrator's keys as the core merges them, and the file each one comes from."""
    values: dict[str, JsonValue] = {}
    origins: dict[KeyPath, Path] = {}
    for holder in holders:
        options = options_of(_core_entry(holder))
        if options is None:
            continue
        layer = {k: v for k, v in options.items() if k not in SHIM_OPTION_KEYS}
        _merge(values, layer, (), holder.path, origins)
    return values, origins


def _merge(
    target: dict[str, JsonValue],
    source: Mapping[str, JsonValue],
    path: KeyPath,
    file: Path,
    origins: dict[KeyPath, Path],
) -> None:
    """The loader's merge: objects key by key, any other value replacing the one before."""
    for key, value in source.items():
        here = (*path, key)
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge(current, value, here, file, origins)
            continue
        target[key] = copy.deepcopy(value)
        for stale in [p for p in origins if p[: len(here)] == here]:
            del origins[stale]
        origins[here] = file


def _leaves(options: Mapping[str, JsonValue]) -> Iterator[tuple[KeyPath, JsonValue]]:
    """Every value written, as the readers take it; ``command`` aside.

    A shim option is one value whole (OpenCode hands over the entry's object as
    it is); the core's keys are followed into objects, as the core merges them.
    An empty object sets nothing.
    """
    for key, value in options.items():
        if key == _INSTALLED:
            continue
        if key in SHIM_OPTION_KEYS:
            yield (key,), value
        else:
            yield from _nested((key,), value)


def _nested(path: KeyPath, value: JsonValue) -> Iterator[tuple[KeyPath, JsonValue]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nested((*path, key), item)
    else:
        yield path, value


def _lookup(values: Mapping[str, JsonValue], path: KeyPath) -> JsonValue | _Missing:
    node: JsonValue | _Missing = dict(values)
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[str(key)]
    return node


def _origin(origins: Mapping[KeyPath, Path], path: KeyPath, default: Path) -> Path:
    for end in range(len(path), 0, -1):
        found = origins.get(path[:end])
        if found is not None:
            return found
    return default


def _same(a: JsonValue | _Missing, b: JsonValue | _Missing) -> bool:
    """Equal as JSON values (``true`` is not ``1``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (dict, list, _Missing)) or isinstance(b, (dict, list, _Missing)):
        return False
    return a == b


def _shown(value: JsonValue) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _in_force(values: Mapping[str, JsonValue], path: KeyPath) -> str:
    """How ``path`` reads in ``values``: its value, an ancestor that is no object, or unset."""
    for end in range(len(path), 0, -1):
        found = _lookup(values, path[:end])
        if isinstance(found, _Missing):
            continue
        if end == len(path):
            return f"is {_shown(found)}"
        if isinstance(found, dict):
            break
        return f"is unset ({dotted(path[:end])} is {_shown(found)})"
    return "is unset"


def _conflict(
    here: Path,
    there: Path,
    path: KeyPath,
    value: JsonValue,
    values: Mapping[str, JsonValue],
) -> str:
    """One disagreement, naming the file of each side; ``there``'s side is in force."""
    key = dotted(path)
    now = _in_force(values, path)
    if here == there:
        return (
            f"{key} is {_shown(value)} in an entry in {here}, but {now} in a later one "
            "there, which is in force"
        )
    return f"{key} is {_shown(value)} in {here}, but {now} in {there}, which is in force"
