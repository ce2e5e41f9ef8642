"""``install`` and ``uninstall``: the plugin entry in OpenCode's config.

``install`` adds to OpenCode's config the entry that loads this orchestrator's
plugin, ``[<shim>/index.ts, {"command": [<python>, "-m", "opencode_orchestrator",
"serve"]}]``: the plugin file shipped inside this package, and the command it
starts the core with (this very interpreter, so no ``PATH`` is involved).

``--global`` edits ``$XDG_CONFIG_HOME/opencode/`` (default ``~/.config/opencode/``),
for every project; ``--project DIR`` (the default, with the current directory)
edits that project's config. The file is the first of ``opencode.json``,
``opencode.jsonc`` (for a project also ``.opencode/opencode.json``,
``.opencode/opencode.jsonc``) that exists, as OpenCode's own ``opencode plugin``
and ``opencode mcp add`` choose it, or the one already holding our entry;
``opencode.json`` is created when there is none.

The edit is made in place: comments, trailing commas and formatting stay as
they are, and only our entry changes. Installing again changes nothing, or
updates our entry (a new interpreter or package path); other options you put in
our entry are kept. A second entry of ours in the scope (in another file, or in
the same one) is removed, and its options move into the entry kept, so that the
options in force stay what they are; when two entries set an option
differently, nothing is changed and the error names both files. ``uninstall``
removes our entry, and nothing else, from every config file of the scope. A
file OpenCode could not read is left untouched and the error says where it is;
files are replaced atomically, keeping their mode.

Exit codes: 0 done (or nothing to do); 1 a config file is malformed or cannot
be read or written, two entries of ours disagree, or the plugin shim is
missing; 2 usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opencode_orchestrator.cli.install import plugin_list
from opencode_orchestrator.cli.install.duplicates import (
    Holder,
    OptionConflictError,
    merged_options,
    option_keys,
)
from opencode_orchestrator.cli.install.files import (
    SCHEMA_URL,
    Scope,
    ShimNotFoundError,
    core_command,
    global_scope,
    is_our_entry,
    plugin_entry,
    project_scope,
    shim_path,
    write_atomically,
)
from opencode_orchestrator.cli.install.plugin_list import ConfigShapeError
from opencode_orchestrator.config.jsonc import JsoncError, JsonValue

__all__ = ["InstallError", "add_parser", "install", "uninstall"]

_NEW_FILE = '{\n  "$schema": "' + SCHEMA_URL + '"\n}\n'


class InstallError(Exception):
    """A config file cannot be used; nothing was changed."""


@dataclass(slots=True)
class _File:
    path: Path
    text: str | None  # None: does not exist
    entries: list[JsonValue]


def add_parser(subparsers: Any) -> None:
    """Register ``install`` and ``uninstall``."""
    for name, func, help_text in (
        ("install", _install, "add the orchestrator plugin to OpenCode's config"),
        ("uninstall", _uninstall, "remove the orchestrator plugin from OpenCode's config"),
    ):
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name,
            help=help_text,
            description=__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        where = parser.add_mutually_exclusive_group()
        where.add_argument(
            "--global",
            dest="global_",
            action="store_true",
            help="the user's config, $XDG_CONFIG_HOME/opencode (for every project)",
        )
        where.add_argument(
            "--project",
            type=Path,
            metavar="DIR",
            help="the config of the project in DIR (default: the current directory)",
        )
        parser.set_defaults(func=func, parser=parser)


def _scope(args: argparse.Namespace) -> Scope:
    if args.global_:
        return global_scope()
    project: Path = args.project if args.project is not None else Path()
    if not project.is_dir():
        args.parser.error(f"--project {project}: not a directory")
    return project_scope(project)


def _install(args: argparse.Namespace) -> int:
    return _run(lambda: install(_scope(args), out=print), args)


def _uninstall(args: argparse.Namespace) -> int:
    return _run(lambda: uninstall(_scope(args), out=print), args)


def _run(action: Callable[[], None], args: argparse.Namespace) -> int:
    try:
        action()
    except (InstallError, ShimNotFoundError) as exc:
        print(f"opencode-orchestrator {args.parser.prog.split()[-1]}: {exc}", file=sys.stderr)
        return 1
    return 0


def install(scope: Scope, *, out: Callable[[str], None]) -> None:
    """Put our entry into ``scope``'s config, once; say what was done on ``out``.

    Raises:
        InstallError: a file is malformed, unreadable or unwritable (nothing changed).
        ShimNotFoundError: there is no plugin shim to point at.
    """
    shim = shim_path()
    command = core_command()
    files = _read_scope(scope, shim)
    holders = [f for f in files if f.entries]
    order = _reading_order(scope, files)
    position = {f.path: i for i, f in enumerate(order)}
    try:
        options = merged_options([Holder(f.path, f.entries) for f in order])
    except OptionConflictError as exc:
        raise InstallError(str(exc)) from exc
    spec, ours = plugin_entry(shim, command)
    entry = [spec, {**ours, **options}]
    existing = [f for f in files if f.text is not None and f.path in scope.targets]
    target = holders[0] if holders else existing[0] if existing else None
    if target is None:
        target = _File(scope.default, None, [])
    changes: list[tuple[Path, str, str]] = []
    text = target.text if target.text is not None else _NEW_FILE
    with _config_errors(target.path):
        new_text, outcome = plugin_list.install_entry(text, entry, _matcher(target.path, shim))
    if target.text is None:
        changes.append((target.path, new_text, f"created {target.path} with the plugin entry"))
    elif outcome == "added":
        changes.append((target.path, new_text, f"added the plugin entry to {target.path}"))
    elif outcome == "updated":
        message = f"updated the plugin entry in {target.path}"
        kept = target.entries[0] if target.entries else None
        moved = _moved(target.entries[1:], kept)
        if moved:
            message += f"\nmoved {moved} of a second plugin entry in {target.path} into the first"
        changes.append((target.path, new_text, message))
    for other in holders[1:]:
        assert other.text is not None
        with _config_errors(other.path):
            removed_text, _ = plugin_list.remove_entries(other.text, _matcher(other.path, shim))
            dropped = False
            if position[other.path] > position[target.path]:
                removed_text, dropped = plugin_list.drop_empty_list(removed_text)
        message = f"removed a second plugin entry from {other.path}"
        if dropped:
            # OpenCode would read an empty list there as "no plugins", ours included.
            message += ', and the "plugin" list it left empty'
        moved = _moved(other.entries, target.entries[0] if target.entries else None)
        if moved:
            message += f"\nmoved {moved} of {other.path} into {target.path}"
        changes.append((other.path, removed_text, message))
    _write_all(changes, create_dirs=scope.kind == "global")
    if not changes:
        out(f"the plugin entry is already in {target.path}; nothing to do")
    for _, _, message in changes:
        out(message)
    for later in order[position.get(target.path, -1) + 1 :]:
        if later.text is not None and not later.entries and _empty_list(later):
            # Not ours to remove, but it switches the plugin off: the user must know.
            out(
                f'warning: {later.path} has an empty "plugin" list, which OpenCode reads as '
                "no plugins at all, this one included: remove it, or the plugin will not load"
            )
    out(f"  plugin: {shim}")
    out(f"  core:   {shlex.join(command)}")
    if scope.kind == "project":
        _note_global_entry(shim, out)
        where = f"in {scope.directory}"
    else:
        where = "in any project"
    # Plain `opencode`: the plugin reaches the TUI's in-process server through its own
    # loopback proxy, and `--port` would make OpenCode load the plugin (and a core) twice.
    out(f'next: start `opencode` {where}, then type /extreme-mission "<goal>"')


def uninstall(scope: Scope, *, out: Callable[[str], None]) -> None:
    """Remove every entry of ours from ``scope``'s config files; say what was done.

    Raises:
        InstallError: a file is malformed, unreadable or unwritable (nothing changed).
    """
    try:
        shim: Path | None = shim_path()
    except ShimNotFoundError:
        shim = None  # a removed checkout: entries are still known by their options
    files = _read_scope(scope, shim)
    changes: list[tuple[Path, str, str]] = []
    for file in files:
        if not file.entries:
            continue
        assert file.text is not None
        with _config_errors(file.path):
            new_text, removed = plugin_list.remove_entries(file.text, _matcher(file.path, shim))
            # Left empty, the list would make OpenCode load no plugin at all in this
            # scope, the user's global ones included: it goes with our entry.
            new_text, emptied = plugin_list.drop_empty_list(new_text)
        noun = "the plugin entry" if removed == 1 else f"{removed} plugin entries"
        message = f"removed {noun} from {file.path}"
        if emptied:
            message += ', and the "plugin" list it left empty'
        changes.append((file.path, new_text, message))
    _write_all(changes, create_dirs=False)
    if not changes:
        looked = ", ".join(str(p) for p in scope.files)
        out(f"no orchestrator plugin entry in {looked}; nothing to do")
    for _, _, message in changes:
        out(message)


def _empty_list(file: _File) -> bool:
    """Whether ``file`` holds an empty ``plugin`` list (a malformed one counts as not)."""
    assert file.text is not None
    try:
        return plugin_list.drop_empty_list(file.text)[1]
    except (JsoncError, ConfigShapeError):
        return False


def _reading_order(scope: Scope, files: list[_File]) -> list[_File]:
    """``files`` in the order OpenCode (and the core) read them: globally, ``config.json`` first."""
    if scope.kind == "global":
        others = set(scope.others)
        return [f for f in files if f.path in others] + [f for f in files if f.path not in others]
    return files


def _moved(entries: list[JsonValue], kept: JsonValue) -> str:
    """``the options a, b`` that ``entries`` hold and ``kept`` lacks; empty if none."""
    keys: dict[str, None] = {}
    for entry in entries:
        keys.update(dict.fromkeys(option_keys(entry, kept)))
    if not keys:
        return ""
    return ("the option " if len(keys) == 1 else "the options ") + ", ".join(keys)


def _matcher(path: Path, shim: Path | None) -> Callable[[JsonValue], bool]:
    return lambda value: is_our_entry(value, path.parent, shim)


@contextlib.contextmanager
def _config_errors(path: Path) -> Iterator[None]:
    """Turn a malformed config into an :class:`InstallError` that names the file."""
    try:
        yield
    except JsoncError as exc:
        raise InstallError(f"{path}: not valid JSONC: {exc}; nothing was changed") from exc
    except ConfigShapeError as exc:
        raise InstallError(f"{path}: {exc}; nothing was changed") from exc


def _read_scope(scope: Scope, shim: Path | None) -> list[_File]:
    """Every file of the scope, read and checked before anything is written."""
    files = []
    for path in scope.files:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            files.append(_File(path, None, []))
            continue
        except OSError as exc:
            raise InstallError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InstallError(
                f"{path}: not UTF-8 (byte {exc.start}); nothing was changed"
            ) from exc
        with _config_errors(path):
            entries = plugin_list.list_entries(text)
        matches = _matcher(path, shim)
        files.append(_File(path, text, [e for e in entries if matches(e)]))
    return files


def _note_global_entry(shim: Path, out: Callable[[str], None]) -> None:
    """Say so when the user's global config loads the plugin too."""
    for path in global_scope().files:
        try:
            entries = plugin_list.list_entries(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, JsoncError, ConfigShapeError):
            continue
        if any(_matcher(path, shim)(e) for e in entries):
            out(
                f"note: {path} loads the plugin for every project too; "
                "`opencode-orchestrator uninstall --global` removes it there"
            )


def _write_all(changes: list[tuple[Path, str, str]], *, create_dirs: bool) -> None:
    """Write every changed file, having checked first that each can be written."""
    for path, _, _ in changes:
        real = Path(os.path.realpath(path))  # a symlink's target is what gets written
        directory = real.parent
        if create_dirs and not directory.exists():
            try:
                directory.mkdir(parents=True)
            except OSError as exc:
                raise InstallError(f"cannot create {directory}: {exc.strerror}") from exc
        if real.exists() and not os.access(real, os.W_OK):
            raise InstallError(f"{path} is read-only; nothing was changed")
        if not os.access(directory, os.W_OK):
            raise InstallError(
                f"cannot write {path}: the directory {directory} is not writable; "
                "nothing was changed"
            )
    for path, text, _ in changes:
        try:
            write_atomically(path, text.encode("utf-8"))
        except OSError as exc:
            raise InstallError(f"cannot write {path}: {exc.strerror}") from exc
