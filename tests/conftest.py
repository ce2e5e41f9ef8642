"""Shared fixtures: anyio on asyncio (the core's backend), no logging leaks, no user config."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from opencode_orchestrator import runtime
from opencode_orchestrator.log import shutdown_logging


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    # The loop the product runs on (uvloop where installed), not the stock one.
    return runtime.BACKEND, runtime.backend_options()


@pytest.fixture(scope="session")
def _empty_config_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg-config")


@pytest.fixture(autouse=True)
def _no_user_config(_empty_config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Missions read the user's configuration ($XDG_CONFIG_HOME/opencode/...):
    # the developer's own must not change what a test runs under.
    # Nor may the developer's OPENCODE_ORCHESTRATOR_* variables (configuration,
    # the terminal's log level): OPENCODE_ORCHESTRATOR_UVLOOP excepted, which is
    # read once at import to pick the loop the whole run is on, deliberately.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(_empty_config_home))
    for name in list(os.environ):
        if name.startswith("OPENCODE_ORCHESTRATOR_") and name != "OPENCODE_ORCHESTRATOR_UVLOOP":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # The CLI and the logging tests configure the root logger and structlog;
    # put both back so no test sees another's handlers (or a closed stream).
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    shutdown_logging()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in handlers:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()
