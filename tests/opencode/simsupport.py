"""Shared set-up of the client tests that run against an in-process simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from opencode_orchestrator.opencode import EventStream, OpenCodeClient, RetryPolicy
from opencode_orchestrator.opencode.models import Event, ServerConnectedEvent, SessionIdleEvent
from opencode_orchestrator.sim import SimConfig, SimServer
from opencode_orchestrator.testing.script import ScriptDirective, render_directive

# Retries of rate-limited and dying turns are acted out with this pause: small, so
# a five-attempt death takes milliseconds.
FAST = SimConfig(seed=7, retry_delay=0.001)
QUICK_RECONNECT = RetryPolicy(base_delay=0.01, max_delay=0.05)
BOUND = 20.0  # generous: a failure here means a hang, never a slow machine


def scripted(text: str = "Do it.", **directive: Any) -> str:
    """A prompt carrying an ``@script`` directive."""
    return f"{text}\n{render_directive(ScriptDirective.model_validate(directive))}"


@asynccontextmanager
async def served(
    tmp_path: Path, config: SimConfig = FAST, **client_options: Any
) -> AsyncIterator[tuple[SimServer, OpenCodeClient]]:
    """A simulator and an open client of it, addressing one project directory."""
    project = tmp_path / "project"
    project.mkdir(parents=True, exist_ok=True)
    async with (
        SimServer.running(tmp_path / "state", config=config, directory=str(project)) as sim,
        OpenCodeClient(sim.base_url, directory=str(project), **client_options) as oc,
    ):
        yield sim, oc


@asynccontextmanager
async def subscribed(oc: OpenCodeClient, idle_timeout: float = 30.0) -> AsyncIterator[EventStream]:
    """An open stream that is subscribed (its ``server.connected`` was read)."""
    async with oc.events(idle_timeout=idle_timeout, reconnect=QUICK_RECONNECT) as stream:
        with anyio.fail_after(BOUND):
            first = await anext(stream)
        assert isinstance(first, ServerConnectedEvent)
        yield stream


async def until(stream: EventStream, done: Callable[[Event], bool]) -> list[Event]:
    """Events read until (and including) the first one ``done`` accepts."""
    seen: list[Event] = []
    with anyio.fail_after(BOUND):
        async for item in stream:
            seen.append(item)
            if done(item):
                return seen
    raise AssertionError(f"stream ended before the expected event; saw {seen}")


def idle_of(sid: str) -> Callable[[Event], bool]:
    """Accepts the ``session.idle`` of ``sid``."""
    return lambda e: isinstance(e, SessionIdleEvent) and e.properties.session_id == sid
