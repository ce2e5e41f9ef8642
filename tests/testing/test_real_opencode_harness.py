"""The parts of the real-server harness that need no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.testing.real_opencode import (
    OpenCodeNotInstalledError,
    find_binary,
    project_config,
)


def test_missing_binary_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(OpenCodeNotInstalledError, match=r"\./dev test"):
        find_binary(tmp_path / "nope" / "opencode")


def test_env_variable_names_the_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "opencode"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("OPENCODE_BIN", str(binary))
    assert find_binary() == binary


def test_config_points_the_only_provider_at_the_fake_llm() -> None:
    config = project_config("http://127.0.0.1:9/v1")
    assert config["provider"]["fake"]["options"]["baseURL"] == "http://127.0.0.1:9/v1"
    assert config["enabled_providers"] == ["fake"]
    assert "plugin" not in config  # a plugin would make start-up run npm install
