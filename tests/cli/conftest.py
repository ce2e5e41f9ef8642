"""CLI test fixtures: a fake shim for ``install`` to point at, a home not the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

import opencode_orchestrator.cli.install as install_cli


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed package's shim, which ``install`` then points at."""
    path = tmp_path / "site-packages" / "opencode_orchestrator" / "shim" / "index.ts"
    path.parent.mkdir(parents=True)
    path.write_text("export const OpencodeOrchestrator = async () => ({})\n")
    monkeypatch.setattr(install_cli, "shim_path", lambda: path)
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never the real ~/.config/opencode: the global scope lives under ``tmp_path``.

    Modules that install use it for every test (``pytest.mark.usefixtures("home")``).
    """
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for variable in ("OPENCODE_ORCHESTRATOR_CONFIG_CONTENT", "OPENCODE_ORCHESTRATOR_WAL_FSYNC"):
        monkeypatch.delenv(variable, raising=False)
    return home
