"""The client against HTTP-level faults: 429 storms, a dead server, a server that dies.

Retry waits go through the client's injectable ``sleep``, which records each
wait instead of sleeping it: the tests assert how long the client *would*
wait (Retry-After honoured, capped) without spending that time.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from opencode_orchestrator.opencode import (
    OpenCodeClient,
    OpenCodeConnectionError,
    OpenCodeRateLimitedError,
    RetryPolicy,
)
from opencode_orchestrator.opencode.models import ServerConnectedEvent
from opencode_orchestrator.sim import SimConfig, SimServer, StormConfig

pytestmark = pytest.mark.anyio

BOUND = 20.0  # generous: a failure here means a hang, never a slow machine
QUICK_RECONNECT = RetryPolicy(base_delay=0.01, max_delay=0.05)
# Distinct from any backoff draw of the default policy (at most 0.2 s on the first retry).
RETRY_AFTER = 7

Call = Callable[[OpenCodeClient, str], Awaitable[object]]

CALLS: dict[str, Call] = {
    "GET health": lambda oc, _: oc.health(),
    "GET sessions": lambda oc, _: oc.list_sessions(),
    "POST abort (idempotent)": lambda oc, sid: oc.abort(sid),
    "POST create_session": lambda oc, _: oc.create_session(title="under fire"),
    "POST prompt": lambda oc, sid: oc.prompt(sid, "Say ok."),
    "POST prompt_async": lambda oc, sid: oc.prompt_async(sid, "Say ok."),
}
ids = list(CALLS)


class RecordedSleep:
    """The client's sleep: records each wait; ``then`` runs in place of the time passing."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.then: Callable[[], object] = lambda: None

    async def __call__(self, delay: float) -> None:
        self.waits.append(delay)
        self.then()
        await anyio.lowlevel.checkpoint()


@asynccontextmanager
async def served(
    tmp_path: Path, sleep: RecordedSleep, retry: RetryPolicy | None = None
) -> AsyncIterator[tuple[SimServer, OpenCodeClient, str]]:
    """A simulator, a client of it using ``sleep``, and one idle session's id."""
    project = tmp_path / "project"
    project.mkdir()
    config = SimConfig(seed=7, retry_delay=0.001)
    async with (
        SimServer.running(tmp_path / "state", config=config, directory=str(project)) as sim,
        OpenCodeClient(sim.base_url, directory=str(project), sleep=sleep, retry=retry) as oc,
    ):
        session = await oc.create_session(title="before the storm")
        yield sim, oc, session.id


def storm(sim: SimServer) -> None:
    """Every API request refused with 429 until the storm is cleared."""
    sim.set_faults(storm=StormConfig(share=1.0, duration=3600, retry_after=RETRY_AFTER))


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("name", ids)
async def test_a_storm_is_ridden_out_by_honouring_retry_after(tmp_path: Path, name: str) -> None:
    sleep = RecordedSleep()
    async with served(tmp_path, sleep) as (sim, oc, sid):
        storm(sim)
        sleep.then = lambda: sim.set_faults(storm=None)  # the storm passes while we wait
        with anyio.fail_after(BOUND):
            await CALLS[name](oc, sid)
        assert sleep.waits == [float(RETRY_AFTER)]
        sessions = await oc.list_sessions()
    # A refused POST did not reach the handler: no session was created twice.
    expected = 2 if name == "POST create_session" else 1
    assert len(sessions) == expected


@pytest.mark.parametrize("name", ids)
async def test_a_storm_longer_than_the_budget_raises_rate_limited_with_retry_after(
    tmp_path: Path, name: str
) -> None:
    sleep = RecordedSleep()
    policy = RetryPolicy(max_attempts=3, max_retry_after=0.5)
    async with served(tmp_path, sleep, policy) as (sim, oc, sid):
        storm(sim)
        with anyio.fail_after(BOUND), pytest.raises(OpenCodeRateLimitedError) as caught:
            await CALLS[name](oc, sid)
        sim.set_faults(storm=None)
        sessions = await oc.list_sessions()
        messages = await oc.list_messages(sid)
    assert caught.value.status == 429
    # The server's hint is reported as sent; the waits were capped by the policy.
    assert caught.value.retry_after == float(RETRY_AFTER)
    assert sleep.waits == [0.5, 0.5]
    assert len(sessions) == 1
    assert messages == []


async def test_a_stream_opened_in_a_storm_connects_once_it_passes(tmp_path: Path) -> None:
    sleep = RecordedSleep()
    async with served(tmp_path, sleep) as (sim, oc, _):
        storm(sim)
        sleep.then = lambda: sim.set_faults(storm=None)
        async with oc.events(reconnect=QUICK_RECONNECT) as stream:
            with anyio.fail_after(BOUND):
                first = await anext(stream)
    assert isinstance(first, ServerConnectedEvent)
    assert len(sleep.waits) == 1
    assert stream.reconnects == 0  # never connected before: no reconnect marker


@pytest.mark.parametrize("name", ids)
async def test_every_call_to_a_dead_server_raises_connection_error(name: str) -> None:
    sleep = RecordedSleep()
    url = f"http://127.0.0.1:{free_port()}"
    policy = RetryPolicy(max_attempts=3)
    async with OpenCodeClient(url, retry=policy, sleep=sleep) as oc:
        with anyio.fail_after(BOUND), pytest.raises(OpenCodeConnectionError) as caught:
            await CALLS[name](oc, "ses_0000000000000000000000000")
    # Never sent, so retried whatever the method, then reported as dead.
    assert caught.value.attempts == 3
    assert caught.value.url.startswith(url)
    assert "looks dead" in str(caught.value)
    assert len(sleep.waits) == 2


async def test_a_stream_to_a_dead_server_gives_up_after_its_reconnect_budget() -> None:
    sleep = RecordedSleep()
    async with (
        OpenCodeClient(f"http://127.0.0.1:{free_port()}", sleep=sleep) as oc,
        oc.events(reconnect=QUICK_RECONNECT) as stream,
    ):
        with anyio.fail_after(BOUND), pytest.raises(OpenCodeConnectionError) as caught:
            await anext(stream)
    assert caught.value.url.endswith("/event")
    assert stream.max_failures is not None
    # A sleep between consecutive failed connects, none after the last one.
    assert len(sleep.waits) == stream.max_failures - 1
    assert all(wait <= QUICK_RECONNECT.max_delay for wait in sleep.waits)


async def test_a_server_dying_mid_stream_is_retried_then_reported(tmp_path: Path) -> None:
    sleep = RecordedSleep()
    async with (
        served(tmp_path, sleep) as (sim, oc, _),
        oc.events(reconnect=QUICK_RECONNECT) as stream,
    ):
        with anyio.fail_after(BOUND):
            assert isinstance(await anext(stream), ServerConnectedEvent)
        await sim.stop()
        with anyio.fail_after(BOUND), pytest.raises(OpenCodeConnectionError) as caught:
            await anext(stream)
    assert caught.value.url.endswith("/event")
    assert stream.max_failures is not None
    # One wait after the drop, then one between each of the failed reconnects.
    assert len(sleep.waits) == stream.max_failures
    assert stream.reconnects == 0
