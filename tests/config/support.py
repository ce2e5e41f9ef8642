"""Configuration files for the tests: a user's config home and a project, written as told."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["OUR_SHIM", "Places", "plugin_file", "write"]

OUR_SHIM = "/opt/checkout/plugin-shim/src/index.ts"


class Places:
    """A user's ``$XDG_CONFIG_HOME`` and a project, both empty at first."""

    def __init__(self, root: Path) -> None:
        self.config_home = root / "xdg"
        self.user = self.config_home / "opencode"
        self.project = root / "project"
        self.dot = self.project / ".opencode"
        for directory in (self.user, self.dot):
            directory.mkdir(parents=True)

    @property
    def environ(self) -> dict[str, str]:
        """An environment with nothing but the config home set."""
        return {"XDG_CONFIG_HOME": str(self.config_home)}


def write(path: Path, content: str | dict[str, Any]) -> Path:
    """Write ``content`` (text as is, an object as JSON) to ``path``."""
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def plugin_file(path: Path, options: dict[str, Any], *, spec: str = OUR_SHIM) -> Path:
    """An ``opencode.json`` whose plugin list holds another plugin and then ours."""
    return write(path, {"plugin": ["some-npm-plugin", [spec, options]]})
