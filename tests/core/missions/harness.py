"""A core on in-memory streams with a shim-side endpoint, over an in-process simulator.

:func:`core_session` runs a :class:`CoreServer` and talks to it through a
Python :class:`Endpoint` playing the shim: typed calls, and every
``mission/progress`` notification collected as it arrives, so a test waits
for a state without polling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from opencode_orchestrator.core import CoreServer, ServerOptions
from opencode_orchestrator.jsonrpc import (
    Endpoint,
    MemoryByteStream,
    RemoteError,
    memory_stream_pair,
)
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.store import load_mission
from tests.mission.enginesupport import BOUND, Sim

__all__ = ["BOUND", "Shim", "core_session", "disk_model"]

Json = dict[str, Any]


@dataclass
class Shim:
    """The shim's side of one core session."""

    server: CoreServer
    endpoint: Endpoint
    stream: MemoryByteStream
    progress: list[Json] = field(default_factory=list)
    exit_code: int | None = None
    _changed: anyio.Event = field(default_factory=anyio.Event)
    _finished: anyio.Event = field(default_factory=anyio.Event)

    def note(self, params: Json) -> None:
        self.progress.append(params)
        self._changed.set()
        self._changed = anyio.Event()

    async def call(self, method: str, params: Json | None = None) -> Any:
        return await self.endpoint.call(method, params if params is not None else {})

    async def refused(self, method: str, params: Json | None = None) -> RemoteError:
        with pytest.raises(RemoteError) as caught:
            await self.call(method, params)
        return caught.value

    async def wait_for(self, condition: Callable[[], bool], bound: float = BOUND) -> None:
        """Until ``condition()`` holds (checked now and after each notification)."""
        with anyio.fail_after(bound):
            while not condition():
                await self._changed.wait()

    def states(self, mission_id: str) -> list[str]:
        return [p["state"] for p in self.progress if p["missionId"] == mission_id]

    async def wait_state(self, mission_id: str, state: str, bound: float = BOUND) -> Json:
        """The first progress notification of ``mission_id`` in ``state`` (waiting for it)."""
        await self.wait_for(lambda: state in self.states(mission_id), bound)
        return next(
            p for p in self.progress if p["missionId"] == mission_id and p["state"] == state
        )

    async def end_input(self) -> int | None:
        """End the core's stdin (no ``shutdown``); the core's exit code."""
        await self.stream.send_eof()
        with anyio.fail_after(BOUND):
            await self._finished.wait()
        return self.exit_code

    async def shutdown(self) -> int | None:
        """``shutdown`` then ``exit``; the core's exit code."""
        assert await self.call("shutdown") is None
        await self.endpoint.notify("exit")
        with anyio.fail_after(BOUND):
            await self._finished.wait()
        return self.exit_code


def initialize_params(sim: Sim | None, **overrides: Any) -> Json:
    params: Json = {"clientInfo": {"name": "test-shim", "version": "0"}}
    if sim is not None:
        params |= {
            "serverUrl": sim.server.base_url,
            "directory": str(sim.project),
            "worktree": str(sim.project),
        }
    return params | overrides


@asynccontextmanager
async def core_session(
    sim: Sim | None,
    *,
    on_server: Callable[[CoreServer], None] | None = None,
    **initialize: Any,
) -> AsyncIterator[Shim]:
    """An initialized core session (``initialize`` overrides its params; ``None`` drops one)."""
    server_side, shim_side = memory_stream_pair()
    server = CoreServer(Endpoint(server_side), ServerOptions(hooks_timeout=5))
    if on_server is not None:
        on_server(server)
    shim = Shim(server, Endpoint(shim_side), shim_side)

    @shim.endpoint.notification("mission/progress")
    async def progress(params: Any) -> None:
        shim.note(params)

    async def serve() -> None:
        shim.exit_code = await server.run()
        shim._finished.set()

    params = {k: v for k, v in initialize_params(sim, **initialize).items() if v is not None}
    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        async with shim.endpoint:
            await shim.call("initialize", params)
            await shim.endpoint.notify("initialized")
            yield shim
            if not shim._finished.is_set():
                await shim.shutdown()
        await shim_side.aclose()


def disk_model(project: Path, mission_id: str) -> MissionModel:
    """The mission as its WAL on disk says (read without the lock)."""
    return load_mission(project, mission_id)
