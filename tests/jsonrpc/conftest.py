from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import pytest
from pydantic import BaseModel

from opencode_orchestrator.jsonrpc import Endpoint, RpcError, memory_stream_pair
from tests.jsonrpc.rawpeer import RawPeer


class GoalParams(BaseModel):
    goal: str
    workers: int = 1


@dataclass
class Harness:
    endpoint: Endpoint
    peer: RawPeer
    release: anyio.Event = field(default_factory=anyio.Event)
    slow_started: anyio.Event = field(default_factory=anyio.Event)
    started: int = 0
    cancelled: list[object] = field(default_factory=list)
    notes: list[object] = field(default_factory=list)


def build_server(**options: object) -> tuple[Endpoint, Harness, RawPeer]:
    server_side, peer_side = memory_stream_pair()
    endpoint = Endpoint(server_side, **options)  # type: ignore[arg-type]
    peer = RawPeer(peer_side, peer_side)
    harness = Harness(endpoint, peer)

    @endpoint.method("echo")
    async def echo(params: object) -> object:
        return params

    @endpoint.method("goal", GoalParams)
    async def goal(params: GoalParams) -> GoalParams:
        return params

    @endpoint.method("slow")
    async def slow(params: object) -> str:
        harness.started += 1
        harness.slow_started.set()
        try:
            await harness.release.wait()
        except anyio.get_cancelled_exc_class():
            harness.cancelled.append(params)
            raise
        return "released"

    @endpoint.method("fail")
    async def fail(params: object) -> None:
        raise ValueError("secret internals: /etc/passwd")

    @endpoint.method("refuse")
    async def refuse(params: object) -> None:
        raise RpcError(-33001, "mission not found", {"mission": "m1"})

    @endpoint.method("unserialisable")
    async def unserialisable(params: object) -> object:
        return object()

    @endpoint.notification("note")
    async def note(params: object) -> None:
        # Yield to the loop so a reordering worker would show up.
        await anyio.lowlevel.checkpoint()
        harness.notes.append(params)

    return endpoint, harness, peer


@pytest.fixture
async def served() -> AsyncIterator[Harness]:
    endpoint, harness, _peer = build_server()
    async with endpoint.run():
        yield harness
    await harness.peer.close()
