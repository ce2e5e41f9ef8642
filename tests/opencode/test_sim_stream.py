"""The client's event stream against the simulator's stream faults: drops, silence, restarts.

The stream must come back after each fault, say so with ``StreamReconnected``,
and still tell the consumer how the turns it follows ended, with synthetic
``session.error`` / ``session.idle`` when the real ones were sent while it was
down. Nothing here may hang: every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from opencode_orchestrator.opencode import (
    MessageErrorName,
    MessageWithParts,
    OpenCodeConnectionError,
    OpenCodeError,
    OpenCodeUnknownError,
    StreamReconnected,
)
from opencode_orchestrator.opencode.models import (
    Event,
    SessionErrorEvent,
    SessionIdleEvent,
    SessionStatusEvent,
)
from opencode_orchestrator.sim import SimConfig
from tests.opencode.simsupport import (
    BOUND,
    idle_of,
    scripted,
    served,
    subscribed,
    until,
)

pytestmark = pytest.mark.anyio


def busy_of(sid: str) -> Callable[[Event], bool]:
    """Accepts a busy ``session.status`` of ``sid``."""
    return lambda e: (
        isinstance(e, SessionStatusEvent)
        and e.properties.session_id == sid
        and e.properties.status.type == "busy"
    )


def reconnected(item: Event) -> bool:
    """Accepts the client's reconnect marker."""
    return isinstance(item, StreamReconnected)


def after_reconnect(seen: list[Event]) -> list[Event]:
    """What the stream yielded after its last ``StreamReconnected``."""
    marks = [i for i, e in enumerate(seen) if isinstance(e, StreamReconnected)]
    assert marks, f"no StreamReconnected in {seen}"
    return seen[marks[-1] + 1 :]


def assert_synthetic_error_then_idle(events: list[Event], sid: str, kind: MessageErrorName) -> None:
    """``events`` are a synthetic ``session.error`` of ``kind`` then a synthetic idle."""
    error, idle = events[-2:]
    assert isinstance(error, SessionErrorEvent)
    assert error.synthetic
    assert error.properties.session_id == sid
    assert error.properties.error is not None
    assert error.properties.error.kind is kind
    assert isinstance(idle, SessionIdleEvent)
    assert idle.synthetic


async def test_dropped_streams_reconnect_with_a_marker_and_carry_on(tmp_path: Path) -> None:
    async with served(tmp_path) as (sim, oc), subscribed(oc) as stream:
        assert sim.drop_streams() == 1
        seen = await until(stream, reconnected)
        marker = seen[-1]
        assert isinstance(marker, StreamReconnected)
        assert marker.properties.reason == "server ended the stream"
        assert stream.reconnects == 1
        # Live events flow on the new connection.
        session = await oc.create_session()
        await oc.prompt_async(session.id, scripted(reply="after the drop"))
        tail = await until(stream, idle_of(session.id))
    assert not any(isinstance(e, StreamReconnected) for e in tail)
    assert not any(e.synthetic for e in tail)


async def test_a_watched_turn_that_failed_while_down_is_reported_by_resync(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as (sim, oc), subscribed(oc) as stream:
        session = await oc.create_session()
        stream.watch(session.id)
        sim.drop_streams()
        # The stream is read only after the turn is over: it missed all of it.
        with anyio.fail_after(BOUND):
            result = await oc.prompt(session.id, scripted(fault="api_error"))
        assert result.assistant is not None
        assert result.assistant.error is not None
        seen = await until(stream, idle_of(session.id))
        assert session.id not in stream.tracked
    assert_synthetic_error_then_idle(after_reconnect(seen), session.id, MessageErrorName.API)


async def test_a_turn_seen_busy_before_the_drop_gets_a_synthetic_idle(tmp_path: Path) -> None:
    async with served(tmp_path) as (sim, oc), subscribed(oc) as stream:
        session = await oc.create_session()
        await oc.prompt_async(session.id, scripted(delay=3600))
        await until(stream, busy_of(session.id))
        assert session.id in stream.tracked  # from the busy status alone, no watch()
        sim.drop_streams()
        assert await oc.abort(session.id)
        # Queued behind the aborted turn, so the session is idle when this returns.
        with anyio.fail_after(BOUND):
            await oc.prompt(session.id, scripted(fault="context_overflow"))
        seen = await until(stream, idle_of(session.id))
    assert_synthetic_error_then_idle(
        after_reconnect(seen), session.id, MessageErrorName.CONTEXT_OVERFLOW
    )


async def test_a_stream_dropping_at_every_event_still_delivers_the_idle(tmp_path: Path) -> None:
    async with served(tmp_path) as (sim, oc), subscribed(oc) as stream:
        # Every event written ends the stream: the client never sees a live turn event.
        sim.set_faults(stream_drop_rate=1.0)
        session = await oc.create_session()
        stream.watch(session.id)
        await oc.prompt_async(session.id, scripted(fault="api_error"))
        seen = await until(stream, idle_of(session.id))
    assert stream.reconnects >= 1
    assert any(isinstance(e, StreamReconnected) for e in seen)
    assert_synthetic_error_then_idle(seen, session.id, MessageErrorName.API)


async def test_a_silent_stream_is_detected_by_the_watchdog_and_reconnected(
    tmp_path: Path,
) -> None:
    # No heartbeat for an hour: only the client's watchdog can notice the silence.
    config = SimConfig(seed=7, heartbeat=3600)
    async with served(tmp_path, config) as (_, oc), subscribed(oc, idle_timeout=0.2) as stream:
        seen = await until(stream, reconnected)
        marker = seen[-1]
        assert isinstance(marker, StreamReconnected)
        assert "silent" in marker.properties.reason
        session = await oc.create_session()
        await oc.prompt_async(session.id, scripted())
        tail = await until(stream, idle_of(session.id))
    assert not any(e.synthetic for e in tail if isinstance(e, SessionIdleEvent))


async def test_heartbeats_keep_a_quiet_stream_alive(tmp_path: Path) -> None:
    config = SimConfig(seed=7, heartbeat=0.02)
    async with served(tmp_path, config) as (_, oc), subscribed(oc, idle_timeout=5.0) as stream:
        beats: list[Event] = []
        with anyio.fail_after(BOUND):
            async for item in stream:
                beats.append(item)
                if len(beats) == 5:
                    break
    assert [e.type for e in beats] == ["server.heartbeat"] * 5
    assert stream.reconnects == 0


async def test_a_restart_reconnects_and_the_cut_turn_is_reported(tmp_path: Path) -> None:
    async with served(tmp_path) as (sim, oc), subscribed(oc) as stream:
        session = await oc.create_session()
        outcome: list[MessageWithParts | OpenCodeError] = []

        async def blocking() -> None:
            try:
                outcome.append(await oc.prompt(session.id, scripted(delay=3600)))
            except OpenCodeError as exc:
                outcome.append(exc)

        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:
                tg.start_soon(blocking)
                await until(stream, busy_of(session.id))
                await sim.restart()
        seen = await until(stream, idle_of(session.id))
        # The client is usable on the restarted server.
        again = await oc.prompt(session.id, scripted(reply="back"))
    [cut] = outcome
    # Like a killed OpenCode, the server breaks the connection under the blocking
    # prompt; it is not retried (it may have run), and resync tells the outcome.
    assert isinstance(cut, OpenCodeConnectionError), cut
    assert_synthetic_error_then_idle(after_reconnect(seen), session.id, MessageErrorName.UNKNOWN)
    failed = last_error(seen)
    assert isinstance(failed, OpenCodeUnknownError)
    assert again.text == "back"


def last_error(seen: list[Event]) -> OpenCodeError:
    """The typed error of the last ``session.error`` in ``seen``."""
    errors = [e for e in seen if isinstance(e, SessionErrorEvent)]
    assert errors
    assert errors[-1].properties.error is not None
    return errors[-1].properties.error.to_exception()
