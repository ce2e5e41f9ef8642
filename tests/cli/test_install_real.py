"""What ``install`` writes, as the real OpenCode 1.18.33 reads it (``opencode debug config``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.cli.install.files import shim_path
from opencode_orchestrator.testing.real_opencode import OPENCODE_ENV, find_binary

pytestmark = pytest.mark.real_opencode

# OpenCode installs its plugin package into each config directory on start unless
# the lock file already lists it and node_modules/ exists (see tests/real).
PLUGIN_PACKAGE = {"dependencies": {"@opencode-ai/plugin": "1.18.33"}}
PLUGIN_LOCK = {"lockfileVersion": 3, "packages": {"": PLUGIN_PACKAGE}}

JSONC = """{
  // a user's own config, with OpenCode's JSONC
  "$schema": "https://opencode.ai/config.json",
  "plugin": [
    "./their-plugin.ts", /* theirs */
  ],
}
"""


def _environment(root: Path) -> dict[str, str]:
    env = {**os.environ, **OPENCODE_ENV}
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        (root / name.lower()).mkdir()
        env[f"XDG_{name}_HOME"] = str(root / name.lower())
    env["HOME"] = str(root / "home")
    config_dir = root / "config" / "opencode"
    (config_dir / "node_modules").mkdir(parents=True)
    (config_dir / "package.json").write_text(json.dumps(PLUGIN_PACKAGE))
    (config_dir / "package-lock.json").write_text(json.dumps(PLUGIN_LOCK))
    return env


def _resolved_config(project: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [str(find_binary()), "debug", "config"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def test_opencode_loads_the_entry_install_added_beside_the_user_s_own(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "opencode.jsonc").write_text(JSONC)
    (project / "their-plugin.ts").write_text("export const Theirs = async () => ({})\n")
    command = [sys.executable, "-m", "opencode_orchestrator", "install", "--project", str(project)]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)
    install_twice = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    assert "nothing to do" in install_twice.stdout

    config = _resolved_config(project, env)
    ours = [shim_path().as_uri(), {"command": [*command[:3], "serve"]}]
    theirs = (project / "their-plugin.ts").as_uri()
    assert config["plugin"] == [theirs, ours]
    assert [o["source"] for o in config["plugin_origins"]] == [str(project / "opencode.jsonc")] * 2

    subprocess.run([*command[:3], "uninstall", "--project", str(project)], env=env, check=True)
    assert (project / "opencode.jsonc").read_text() == JSONC
    assert _resolved_config(project, env)["plugin"] == [theirs]
