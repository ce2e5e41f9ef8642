"""How the package runs an event loop: anyio on asyncio, on uvloop where it is installed.

uvloop (a dependency on every platform it supports) makes the loop's own work —
waking tasks, resolving futures, ``call_soon_threadsafe``, watching fds — several
times cheaper than the stock asyncio loop. That is where the core spends its CPU:
one wake-up per acknowledged WAL append, one reader callback per stdin read.
Everything that starts a loop (the CLI, the tests, the benchmarks) goes through
here, so what is tested and measured is what runs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar, TypeVarTuple

import anyio

__all__ = ["BACKEND", "USE_UVLOOP", "backend_options", "run"]

BACKEND: Final = "asyncio"
USE_UVLOOP: Final = (
    importlib.util.find_spec("uvloop") is not None
    and os.environ.get("OPENCODE_ORCHESTRATOR_UVLOOP", "1") != "0"
)
"""Whether to run on uvloop: installed (it is not built for Windows) and not
turned off with ``OPENCODE_ORCHESTRATOR_UVLOOP=0``."""

_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")


def backend_options() -> dict[str, Any]:
    """The anyio backend options the package runs with."""
    return {"use_uvloop": USE_UVLOOP}


def run(func: Callable[[*_Args], Awaitable[_T]], *args: *_Args) -> _T:
    """Run ``func(*args)`` on a new event loop, the way every entry point does."""
    return anyio.run(func, *args, backend=BACKEND, backend_options=backend_options())
