"""Where the plugin shim is, the entry ``install`` writes, and safe writes.

Which config files OpenCode reads, and which ``plugin`` entry is ours, is
:mod:`opencode_orchestrator.config.opencode_files` (the configuration loader
reads the same files); its names are re-exported here for ``install``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Final

import opencode_orchestrator
from opencode_orchestrator.config.opencode_files import (
    CHECKOUT_SHIM,
    MODULE,
    PACKAGED_SHIM,
    Scope,
    global_scope,
    is_our_entry,
    project_scope,
)

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


class ShimNotFoundError(RuntimeError):
    """Neither the packaged plugin shim nor a checkout's is there."""


def shim_path() -> Path:
    """The plugin shim's entry file OpenCode is to load.

    The copy inside the installed package (a wheel carries ``plugin-shim/src`` as
    ``opencode_orchestrator/shim``), else, in an editable install or a checkout,
    the checkout's ``plugin-shim/src/index.ts``.

    Raises:
        ShimNotFoundError: neither exists.
    """
    packaged = resources.files(MODULE).joinpath(*PACKAGED_SHIM)
    if isinstance(packaged, Path) and packaged.is_file():
        return packaged.absolute()
    checkout = Path(opencode_orchestrator.__file__).resolve().parents[2].joinpath(*CHECKOUT_SHIM)
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
