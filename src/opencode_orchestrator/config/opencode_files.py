"""OpenCode's own config files: where they are, and which ``plugin`` entry is ours.

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
rule (``install`` edits them), and the orchestrator's configuration reads its
plugin options from the entry :func:`is_our_entry` recognises.

A :class:`Scope` holds fewer files than OpenCode reads: a project's are those of
its own directory only (not its parents' up to the worktree root), and the
configs that ``OPENCODE_CONFIG``, ``OPENCODE_CONFIG_DIR`` and
``OPENCODE_CONFIG_CONTENT`` add are in no scope. docs/configuration.md says so
to users.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import unquote, urlsplit

from opencode_orchestrator.config.jsonc import JsonValue

__all__ = [
    "CHECKOUT_SHIM",
    "MODULE",
    "PACKAGED_SHIM",
    "SCRIPT",
    "Scope",
    "global_scope",
    "is_our_entry",
    "project_scope",
]

MODULE: Final = "opencode_orchestrator"
SCRIPT: Final = "opencode-orchestrator"
PACKAGED_SHIM: Final = ("shim", "index.ts")
"""The shim's entry inside the installed package."""
CHECKOUT_SHIM: Final = ("plugin-shim", "src", "index.ts")
"""The shim's entry in a source checkout."""


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
        if path.parts[-3:] in ((MODULE, *PACKAGED_SHIM), CHECKOUT_SHIM):
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
