"""Every entry point runs on the same loop: asyncio, on uvloop where installed."""

from __future__ import annotations

import asyncio
import sys

import pytest

from opencode_orchestrator import runtime


async def _loop_class_name(prefix: str) -> str:
    return prefix + type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not built for Windows")
def test_uvloop_is_a_dependency_and_runs_the_loop() -> None:
    assert runtime.USE_UVLOOP
    assert runtime.run(_loop_class_name, "loop from ") == "loop from uvloop"


@pytest.mark.anyio
async def test_the_tests_run_on_the_production_loop() -> None:
    expected = "uvloop" if runtime.USE_UVLOOP else "asyncio"
    assert type(asyncio.get_running_loop()).__module__.startswith(expected)
