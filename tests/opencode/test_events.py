"""The event stream: parsing, reconnect, the watchdog, and resync after a drop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from structlog.testing import capture_logs

from opencode_orchestrator.opencode import (
    EventStream,
    OpenCodeAuthError,
    OpenCodeClient,
    OpenCodeConnectionError,
    RetryPolicy,
    StreamReconnected,
    StreamState,
    UnknownEvent,
    UnparsedEvent,
)
from opencode_orchestrator.opencode.models import (
    Event,
    MessageUpdatedEvent,
    ServerConnectedEvent,
    ServerHeartbeatEvent,
    SessionErrorEvent,
    SessionIdleEvent,
    SessionStatusEvent,
)
from tests.opencode.fakes import (
    FakeOpenCode,
    assistant,
    event,
    events_then_end,
    events_then_stall,
    sse_line,
    sse_response,
    user,
)

pytestmark = pytest.mark.anyio

CONNECTED = event("server.connected")
BUSY = event("session.status", sessionID="ses_1", status={"type": "busy"})


def _streams(*bodies: AsyncIterator[str]) -> list[httpx.Response]:
    return [sse_response(b) for b in bodies]


async def _take(stream: EventStream, count: int) -> list[Event]:
    taken: list[Event] = []
    with anyio.fail_after(5):
        async for item in stream:
            taken.append(item)
            if len(taken) == count:
                break
    return taken


async def test_events_are_typed_and_unknown_types_pass_through() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    fake.on(
        "GET",
        "/event",
        *_streams(
            events_then_stall(
                stalled, CONNECTED, BUSY, event("server.heartbeat"), event("lsp.updated", x=1)
            )
        ),
    )
    async with fake.client(directory="/p") as client, client.events() as stream:
        connected, busy, beat, novel = await _take(stream, 4)
    assert isinstance(connected, ServerConnectedEvent)
    assert isinstance(busy, SessionStatusEvent)
    assert isinstance(beat, ServerHeartbeatEvent)
    assert isinstance(novel, UnknownEvent)
    assert (novel.type, novel.properties) == ("lsp.updated", {"x": 1})
    request = fake.requests[0]
    assert request.headers["accept"] == "text/event-stream"
    assert request.url.params["directory"] == "/p"
    assert stream.state is StreamState.CLOSED


async def test_malformed_data_is_logged_and_skipped() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    fake.on(
        "GET",
        "/event",
        *_streams(events_then_stall(stalled, CONNECTED, "{not json", [1, 2], {"no": "type"}, BUSY)),
    )
    with capture_logs() as logs:
        async with fake.client() as client, client.events() as stream:
            connected, busy = await _take(stream, 2)
    assert isinstance(connected, ServerConnectedEvent)
    assert isinstance(busy, SessionStatusEvent)
    malformed = [entry for entry in logs if entry["event"] == "opencode.events.malformed"]
    assert len(malformed) == 3
    assert malformed[0]["data"] == "{not json"


async def test_global_events_are_unwrapped_with_their_directory() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    wrapped = {"directory": "/p", "project": "prj", "payload": BUSY}
    fake.on("GET", "/global/event", *_streams(events_then_stall(stalled, wrapped)))
    async with fake.client() as client, client.events(global_events=True) as stream:
        [busy] = await _take(stream, 1)
    assert isinstance(busy, SessionStatusEvent)
    assert (busy.directory, busy.project) == ("/p", "prj")


async def test_an_ended_stream_reconnects_with_a_marker() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    fake.on(
        "GET",
        "/event",
        *_streams(events_then_end(CONNECTED), events_then_stall(stalled, CONNECTED)),
    )
    async with fake.client() as client, client.events() as stream:
        first, marker, second = await _take(stream, 3)
    assert isinstance(first, ServerConnectedEvent)
    assert isinstance(marker, StreamReconnected)
    assert marker.synthetic
    assert marker.properties.attempts == 1
    assert marker.properties.reason == "server ended the stream"
    assert isinstance(second, ServerConnectedEvent)
    assert stream.reconnects == 1
    assert len(fake.sleeps) == 1


async def test_failed_connects_back_off_and_are_counted_in_the_marker() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    streams = _streams(events_then_end(CONNECTED), events_then_stall(stalled, CONNECTED))
    fake.on("GET", "/event", streams[0], refused, refused, streams[1])
    async with fake.client() as client, client.events() as stream:
        _, marker, _ = await _take(stream, 3)
    assert isinstance(marker, StreamReconnected)
    assert marker.properties.attempts == 3
    assert "unreachable" in marker.properties.reason
    # Growing backoff ceilings (0.5, 1, 2 s; rand = 0.5), none slept for real.
    assert fake.sleeps == pytest.approx([0.25, 0.5, 1.0])


async def test_a_silent_stream_is_dropped_by_the_watchdog() -> None:
    fake = FakeOpenCode()
    first_stalled, second_stalled = anyio.Event(), anyio.Event()
    fake.on(
        "GET",
        "/event",
        *_streams(
            events_then_stall(first_stalled, CONNECTED),
            events_then_stall(second_stalled, CONNECTED, BUSY),
        ),
    )
    async with fake.client() as client, client.events(idle_timeout=0.05) as stream:
        first, marker, second, busy = await _take(stream, 4)
    assert isinstance(first, ServerConnectedEvent)
    assert isinstance(marker, StreamReconnected)
    assert "silent" in marker.properties.reason
    assert marker.properties.downtime >= 0.0
    assert isinstance(second, ServerConnectedEvent)
    assert isinstance(busy, SessionStatusEvent)
    assert first_stalled.is_set()


async def test_resync_synthesizes_error_and_idle_for_a_session_that_ended_while_down() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    fake.on(
        "GET",
        "/event",
        *_streams(
            events_then_end(CONNECTED, BUSY),
            events_then_stall(stalled, CONNECTED),
        ),
    )
    fake.on_json("GET", "/session/status", {})
    aborted = {"name": "MessageAbortedError", "data": {"message": "aborted"}}
    fake.on_json(
        "GET",
        "/session/ses_1/message",
        [{"info": user(), "parts": []}, {"info": assistant(error=aborted), "parts": []}],
    )
    async with fake.client() as client, client.events() as stream:
        got = await _take(stream, 6)
        assert stream.tracked == frozenset()
    _, busy, marker, error, idle, live = got
    assert isinstance(busy, SessionStatusEvent)
    assert isinstance(marker, StreamReconnected)
    assert isinstance(error, SessionErrorEvent)
    assert error.synthetic
    assert error.properties.session_id == "ses_1"
    assert error.properties.error is not None
    assert error.properties.error.name == "MessageAbortedError"
    assert isinstance(idle, SessionIdleEvent)
    assert idle.synthetic
    assert idle.properties.session_id == "ses_1"
    assert isinstance(live, ServerConnectedEvent)


async def test_resync_leaves_a_still_busy_session_tracked_and_skips_clean_idles_error() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    busy_2 = event(
        "session.status",
        sessionID="ses_2",
        status={"type": "retry", "attempt": 1, "message": "m", "next": 9},
    )
    fake.on(
        "GET",
        "/event",
        *_streams(events_then_end(CONNECTED, BUSY, busy_2), events_then_stall(stalled, CONNECTED)),
    )
    fake.on_json("GET", "/session/status", {"ses_2": {"type": "busy"}})
    fake.on_json("GET", "/session/ses_1/message", [{"info": assistant(), "parts": []}])
    async with fake.client() as client, client.events() as stream:
        got = await _take(stream, 6)
        assert stream.tracked == frozenset({"ses_2"})
    kinds = [(type(e).__name__, e.synthetic) for e in got[3:]]
    assert kinds == [
        ("StreamReconnected", True),
        ("SessionIdleEvent", True),
        ("ServerConnectedEvent", False),
    ]
    assert fake.calls("GET", "/session/ses_2/message") == []


async def test_a_watched_session_is_resynced_on_the_first_connect() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    fake.on("GET", "/event", *_streams(events_then_stall(stalled, CONNECTED)))
    fake.on_json("GET", "/session/status", {})
    fake.on_json("GET", "/session/ses_9/message", [{"info": assistant("ses_9"), "parts": []}])
    async with fake.client() as client:
        stream = client.events()
        stream.watch("ses_9")
        async with stream:
            idle, connected = await _take(stream, 2)
    assert isinstance(idle, SessionIdleEvent)
    assert idle.synthetic
    assert idle.properties.session_id == "ses_9"
    assert isinstance(connected, ServerConnectedEvent)


async def test_a_real_idle_ends_tracking() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    idle = event("session.idle", sessionID="ses_1")
    fake.on("GET", "/event", *_streams(events_then_stall(stalled, CONNECTED, BUSY, idle)))
    # Watched before the first connect, so that connect's resync asks; still busy.
    fake.on_json("GET", "/session/status", {"ses_1": {"type": "busy"}})
    async with fake.client() as client, client.events() as stream:
        stream.watch("ses_1")
        _, busy = await _take(stream, 2)
        assert stream.tracked == frozenset({"ses_1"})
        [real_idle] = await _take(stream, 1)
        assert stream.tracked == frozenset()
    assert isinstance(busy, SessionStatusEvent)
    assert isinstance(real_idle, SessionIdleEvent)
    assert not real_idle.synthetic


async def test_a_dead_server_ends_the_stream_after_max_failures() -> None:
    fake = FakeOpenCode()

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    fake.on("GET", "/event", refused)
    async with fake.client() as client:
        stream = EventStream(client, max_failures=3)
        async with stream:
            with anyio.fail_after(5), pytest.raises(OpenCodeConnectionError):
                await stream.__anext__()
    assert len(fake.requests) == 3


async def test_a_stream_with_patience_gives_up_after_that_long_not_after_max_failures() -> None:
    # A mission's stream must ride out an outage as long as its server_patience:
    # ten failed connects (about 45 s of backoff) stopped a mission whose patience
    # was five minutes.
    fake = FakeOpenCode()

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    fake.on("GET", "/event", refused)
    quick = RetryPolicy(base_delay=0.01, max_delay=0.02)
    async with fake.client() as client:
        stream = client.events(reconnect=quick, patience=0.5)
        assert stream.max_failures is None
        started = anyio.current_time()
        async with stream:
            with anyio.fail_after(5), pytest.raises(OpenCodeConnectionError):
                await stream.__anext__()
        waited = anyio.current_time() - started
    assert waited >= 0.5
    assert len(fake.requests) > 10


async def test_an_auth_failure_is_not_retried() -> None:
    fake = FakeOpenCode()
    fake.on("GET", "/event", httpx.Response(401, text="Unauthorized"))
    async with fake.client() as client, client.events() as stream:
        with anyio.fail_after(5), pytest.raises(OpenCodeAuthError):
            await stream.__anext__()
    assert len(fake.requests) == 1


async def test_stream_lifecycle_refuses_misuse() -> None:
    fake = FakeOpenCode()
    async with fake.client() as client:
        stream = client.events()
        with pytest.raises(Exception, match="not open"):
            await stream.__anext__()
        async with stream:
            pass
        with pytest.raises(Exception, match="closed"):
            await stream.__aenter__()
        with pytest.raises(ValueError, match="idle_timeout"):
            client.events(idle_timeout=0)
    closed: OpenCodeClient = client
    with pytest.raises(Exception, match="closed"):
        async with closed.events() as after:
            await after.__anext__()


async def test_subscribed_returns_at_server_connected_and_keeps_what_it_read() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    fake.on("GET", "/event", *_streams(events_then_stall(stalled, CONNECTED, BUSY)))
    async with fake.client() as client, client.events() as stream:
        assert fake.requests == []  # lazy: nothing connects before a read
        with anyio.fail_after(5):
            await stream.subscribed()
        assert [r.url.path for r in fake.requests] == ["/event"]
        connected, busy = await _take(stream, 2)
    assert isinstance(connected, ServerConnectedEvent)
    assert isinstance(busy, SessionStatusEvent)


async def _chunks_then_stall(stalled: anyio.Event, *chunks: str) -> AsyncIterator[str]:
    for chunk in chunks:
        yield chunk
    stalled.set()
    await anyio.Event().wait()
    yield ""  # pragma: no cover - never reached


async def test_events_packed_in_one_chunk_or_split_across_chunks_all_arrive() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    idle = event("session.idle", sessionID="ses_1")
    packed = sse_line(CONNECTED) + sse_line(BUSY) + sse_line(idle)
    # The second event split mid-field, then at a CR LF pair: both are one line break.
    split = "data: " + '{"type": "session.st', 'atus", "properties": {"sessionID": "ses_2", '
    tail = '"status": {"type": "busy"}}}\r', "\n\r\n"
    fake.on(
        "GET",
        "/event",
        *_streams(_chunks_then_stall(stalled, packed, split[0], split[1], *tail)),
    )
    async with fake.client() as client, client.events() as stream:
        connected, busy, idled, busy2 = await _take(stream, 4)
    assert isinstance(connected, ServerConnectedEvent)
    assert isinstance(busy, SessionStatusEvent)
    assert isinstance(idled, SessionIdleEvent)
    assert isinstance(busy2, SessionStatusEvent)
    assert busy2.properties.session_id == "ses_2"


async def test_types_left_unparsed_arrive_raw_while_the_streams_own_types_stay_typed() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    diff = event("session.diff", sessionID="ses_1", diff=[{"file": "a.py", "nonsense": True}])
    updated = event("message.updated", sessionID="ses_1", info=user("ses_1"))
    fake.on("GET", "/event", *_streams(events_then_stall(stalled, CONNECTED, BUSY, diff, updated)))
    async with fake.client() as client, client.events(parse={"message.updated"}) as stream:
        connected, busy, raw, message = await _take(stream, 4)
        assert stream.tracked == {"ses_1"}, "busy tracking needs session.status parsed"
    assert isinstance(connected, ServerConnectedEvent)
    assert isinstance(busy, SessionStatusEvent)
    assert isinstance(raw, UnparsedEvent)
    assert raw.type == "session.diff"
    assert raw.properties["diff"] == [{"file": "a.py", "nonsense": True}]
    assert isinstance(message, MessageUpdatedEvent)


async def test_a_predicate_picks_which_events_are_parsed() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    first = event("lsp.updated", keep=True)
    second = event("lsp.updated", keep=False)
    fake.on("GET", "/event", *_streams(events_then_stall(stalled, CONNECTED, first, second)))

    def keep(kind: str, properties: dict[str, object]) -> bool:
        return properties.get("keep") is True

    async with fake.client() as client, client.events(parse=keep) as stream:
        _, kept, left = await _take(stream, 3)
    assert isinstance(kept, UnknownEvent), "parsed: an unknown type stays unknown"
    assert isinstance(left, UnparsedEvent)
    assert left.properties == {"keep": False}


async def test_events_read_in_one_chunk_are_tracked_as_they_are_handed_out() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    idle = event("session.idle", sessionID="ses_1")
    packed = sse_line(CONNECTED) + sse_line(BUSY) + sse_line(idle)
    fake.on("GET", "/event", *_streams(_chunks_then_stall(stalled, packed)))
    async with fake.client() as client, client.events() as stream:
        await _take(stream, 2)
        # The idle was read with the busy, but the consumer has not seen it yet.
        assert stream.tracked == frozenset({"ses_1"})
        await _take(stream, 1)
        assert stream.tracked == frozenset()


async def test_an_unparsed_global_event_keeps_its_directory_and_project() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    diff = event("session.diff", sessionID="ses_1", diff=[])
    wrapped = {"directory": "/p", "project": "prj", "payload": diff}
    fake.on("GET", "/global/event", *_streams(events_then_stall(stalled, wrapped)))
    async with fake.client() as client, client.events(global_events=True, parse=()) as stream:
        [raw] = await _take(stream, 1)
    assert isinstance(raw, UnparsedEvent)
    assert (raw.directory, raw.project) == ("/p", "prj")


async def test_invalid_utf8_becomes_replacement_characters_not_a_lost_event() -> None:
    fake = FakeOpenCode()
    stalled = anyio.Event()
    frame = b'data: {"type": "lsp.updated", "properties": {"name": "caf\xe9"}}\n\n'

    async def body() -> AsyncIterator[bytes]:
        yield frame
        stalled.set()
        await anyio.Event().wait()

    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, stream=_Bytes(body())
    )
    fake.on("GET", "/event", response)
    async with fake.client() as client, client.events() as stream:
        [novel] = await _take(stream, 1)
    assert isinstance(novel, UnknownEvent)
    assert novel.properties == {"name": "caf\ufffd"}


class _Bytes(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk
