"""Shared fixtures: anyio on asyncio (the core's backend), and no logging leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from opencode_orchestrator import runtime
from opencode_orchestrator.log import shutdown_logging


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    # The loop the product runs on (uvloop where installed), not the stock one.
    return runtime.BACKEND, runtime.backend_options()


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
