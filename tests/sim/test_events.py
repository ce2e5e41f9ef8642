"""How the hub frames and releases events: the bytes, and the order relative to commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from opencode_orchestrator.sim.config import SimConfig
from opencode_orchestrator.sim.engine import EventBus, FaultInjector, SessionHub
from opencode_orchestrator.sim.engine.bus import StreamKind, Subscription
from opencode_orchestrator.sim.state import SimStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[SessionHub]:
    store = await SimStore.open(tmp_path / "state")
    config = SimConfig(seed=1)
    try:
        async with anyio.create_task_group() as tg:
            yield SessionHub(store, EventBus(), config, FaultInjector(config), tg)
            tg.cancel_scope.cancel()
    finally:
        await store.close()


def _taken(sub: Subscription) -> list[dict[str, Any]]:
    frames, sub._frames = sub._frames, []  # what the stream would take and write
    assert all(f.startswith(b"data: ") and f.endswith(b"\n\n") for f in frames)
    return [orjson.loads(f[6:]) for f in frames]


def _without_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for e in events:
        e.get("payload", e).pop("id")
    return events


async def test_a_stored_document_is_framed_as_emit_frames_it(hub: SessionHub) -> None:
    project = hub.bus.subscribe(StreamKind.PROJECT, "/p")
    everyone = hub.bus.subscribe(StreamKind.GLOBAL, "/elsewhere")
    part = {"id": "prt_1", "text": 'quote " and é \u2028', "n": 1.5e-05, "ok": None}
    hub.emit("/p", "message.part.updated", {"sessionID": "ses_1", "part": part, "time": 7})
    body = hub.store.put_part({**part, "messageID": "msg_1", "sessionID": "ses_1"})
    stored = orjson.loads(body)
    hub.emit("/p", "message.part.updated", {"sessionID": "ses_1", "part": stored, "time": 7})
    hub.emit_stored(
        "/p", b"message.part.updated", "ses_1", key=b"part", document=body, rest=b',"time":7'
    )
    await hub.store.committed(urgent=True)
    first, plain, fused = _without_ids(_taken(project))
    assert plain == fused
    assert first["properties"]["part"] == part
    assert [e["directory"] for e in _without_ids(_taken(everyone))] == ["/p", "/p", "/p"]


async def test_events_behind_a_write_wait_for_its_commit_in_order(hub: SessionHub) -> None:
    sub = hub.bus.subscribe(StreamKind.PROJECT, "/p")
    hub.emit("/p", "a", {})
    assert [e["type"] for e in _taken(sub)] == ["a"], "nothing queued: delivered at once"
    hub.store.put_session({"id": "ses_1", "title": "t"})
    hub.emit("/p", "b", {})
    hub.emit("/p", "c", {})
    assert _taken(sub) == [], "held until the write is committed"
    await hub.store.committed()
    assert [e["type"] for e in _taken(sub)] == ["b", "c"]


async def test_nobody_listening_costs_nothing(hub: SessionHub) -> None:
    hub.emit_stored("/p", b"x", "ses_1", key=b"info", document=b"{}")
    hub.emit("/p", "x", {})
    assert not hub.bus.listens("/p")
