"""Which OpenCode config files hold the plugin entry, what the entry says, and safe writes.

OpenCode 1.18.33 reads, in merge order (a later file wins a conflict; the
``plugin`` lists of all of them are joined, a plugin named twice kept once, from
the last file that names it):

* global, in ``$XDG_CONFIG_HOME/opencode/`` (default ``~/.config/opencode/``):
  ``config.json``, ``opencode.json``, ``opencode.jsonc``; on its first start,
  if none of them exists, OpenCode itself writes ``opencode.jsonc``;
* per project, from the worktree root down to the directory it was started in:
  ``opencode.json`` then ``opencode.jsonc`` in each directory, then
  ``.opencode/opencode.json`` and ``.opencode/opencode.jsonc``.

Its own commands that write a config (``opencode mcp add``, ``opencode
plugin``) edit the first of ``opencode.json``, ``opencode.jsonc`` (and, for a
project, ``.opencode/opencode.json``, ``.opencode/opencode.jsonc``) that exists,
and create ``opencode.json`` when none does. :class:`Scope` follows the same
rule, except that a file already holding our entry is the one edited.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import unquote, urlsplit

import opencode_orchestrator
from opencode_orchestrator.cli.install.jsonc import JsonValue

__all__ = [
    "SCHEMA_URL",
    "Scope",
    "ShimNotFoundError",
    "core_command",
    "global_scope",
    "is_our_entry",
    "plugin_entry",
    "project_scope",
    "shim_path",
    "write_atomically",
]

SCHEMA_URL: Final = "https://opencode.ai/config.json"
MODULE: Final = "opencode_orchestrator"
SCRIPT: Final = "opencode-orchestrator"
_PACKAGED_SHIM: Final = ("shim", "index.ts")
_CHECKOUT_SHIM: Final = ("plugin-shim", "src", "index.ts")


class ShimNotFoundError(RuntimeError):
    """Neither the packaged plugin shim nor a checkout's is there."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Where the entry goes: ``global`` or one project's directory.

    Attributes:
        kind: ``global`` or ``project``.
        directory: the config directory, or the project.
        targets: files the entry may be added to, in OpenCode's order of preference.
        others: files OpenCode also reads in this scope, searched for our entry only.
    """

    kind: Literal["global", "project"]
    directory: Path
    targets: tuple[Path, ...]
    others: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file of the scope that may hold our entry."""
        return self.targets + self.others

    @property
    def default(self) -> Path:
        """The file created when none exists."""
        return self.targets[0]


def global_scope(environ: Mapping[str, str] | None = None) -> Scope:
    """``$XDG_CONFIG_HOME/opencode`` (an empty or unset variable means ``~/.config``)."""
    env = os.environ if environ is None else environ
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    directory = (base / "opencode").absolute()
    return Scope(
        kind="global",
        directory=directory,
        targets=(directory / "opencode.json", directory / "opencode.jsonc"),
        others=(directory / "config.json",),
    )


def project_scope(project: Path) -> Scope:
    """The config files of the project in ``project`` (the directory OpenCode starts in)."""
    directory = project.absolute()
    dot = directory / ".opencode"
    return Scope(
        kind="project",
        directory=directory,
        targets=(
            directory / "opencode.json",
            directory / "opencode.jsonc",
            dot / "opencode.json",
            dot / "opencode.jsonc",
        ),
    )


def shim_path() -> Path:
    """The plugin shim's entry file OpenCode is to load.

    The copy inside the installed package (a wheel carries ``plugin-shim/src`` as
    ``opencode_orchestrator/shim``), else, in an editable install or a checkout,
    the checkout's ``plugin-shim/src/index.ts``.

    Raises:
        ShimNotFoundError: neither exists.
    """
    packaged = resources.files(MODULE).joinpath(*_PACKAGED_SHIM)
    if isinstance(packaged, Path) and packaged.is_file():
        return packaged.absolute()
    checkout = Path(opencode_orchestrator.__file__).resolve().parents[2].joinpath(*_CHECKOUT_SHIM)
    if checkout.is_file():
        return checkout
    raise ShimNotFoundError(
        f"the plugin shim is missing: neither {packaged} (installed package) "
        f"nor {checkout} (source checkout) exists"
    )


def core_command() -> list[str]:
    """How the shim starts the core: this interpreter, so no ``PATH`` is needed."""
    if not sys.executable:
        raise ShimNotFoundError("cannot tell which Python interpreter runs this command")
    return [str(Path(sys.executable).absolute()), "-m", MODULE, "serve"]


def plugin_entry(shim: Path, command: list[str]) -> list[Any]:
    """The ``plugin`` list entry: ``[shim path, {"command": command}]``."""
    return [str(shim), {"command": command}]


def is_our_entry(value: JsonValue, config_dir: Path, shim: Path | None) -> bool:
    """Whether a ``plugin`` entry is this orchestrator's, in any version or install.

    It is when its path is ``shim``, another install's packaged shim
    (``.../opencode_orchestrator/shim/index.ts``) or a checkout's
    (``.../plugin-shim/src/index.ts``), or when its options start the core
    (``-m opencode_orchestrator``, or ``opencode-orchestrator``, the shim's
    default). A relative path is taken from
    ``config_dir``, as OpenCode takes it. ``shim`` is ``None`` when there is no
    shim file (a removed checkout): then entries are known by the rest.
    """
    if isinstance(value, str):
        spec, options = value, None
    elif isinstance(value, list) and value and isinstance(value[0], str):
        spec, options = value[0], value[1] if len(value) > 1 else None
    else:
        return False
    path = _spec_path(spec, config_dir)
    if path is not None:
        if shim is not None and os.path.realpath(path) == os.path.realpath(shim):
            return True
        if path.parts[-3:] in ((MODULE, *_PACKAGED_SHIM), _CHECKOUT_SHIM):
            return True
    if isinstance(options, dict):
        command = options.get("command")
        if isinstance(command, list) and _runs_our_module(command):
            return True
    return False


def _runs_our_module(command: list[JsonValue]) -> bool:
    if command and isinstance(command[0], str) and os.path.basename(command[0]) == SCRIPT:
        return True
    return any(command[i] == "-m" and command[i + 1] == MODULE for i in range(len(command) - 1))


def _spec_path(spec: str, config_dir: Path) -> Path | None:
    """The file a plugin spec names, or ``None`` for an npm package."""
    if spec.startswith("file://"):
        return Path(unquote(urlsplit(spec).path))
    if os.path.isabs(spec):
        return Path(spec)
    if spec.startswith("."):
        return config_dir / spec
    return None


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path``'s content with ``data``: a temporary file, fsync, rename.

    A reader sees the old file or the new one, never a part. An existing file's
    mode (and, where allowed, owner) is kept; a new one gets ``0666`` less the
    umask, as any editor would make it. A symlink is followed, so the link stays
    a link and its target gets the new content.

    Raises:
        OSError: the directory cannot be written (nothing is changed then).
    """
    target = Path(os.path.realpath(path))
    directory = target.parent
    try:
        existing: os.stat_result | None = target.stat()
    except FileNotFoundError:
        existing = None
    temp = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        try:
            if existing is not None:
                os.fchmod(fd, existing.st_mode & 0o7777)
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, existing.st_uid, existing.st_gid)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
