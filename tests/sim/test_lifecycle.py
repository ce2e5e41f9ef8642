from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from opencode_orchestrator.sim import (
    SimBindError,
    SimConfig,
    SimLifecycleError,
    SimServer,
    SimServerState,
)
from tests.sim.helpers import events, scripted, text_prompt

pytestmark = pytest.mark.anyio


async def test_health_and_session_crud(client: httpx.AsyncClient, project: Path) -> None:
    health = await client.get("/global/health")
    assert health.json() == {"healthy": True, "version": "1.18.33"}
    created = (await client.post("/session", json={"title": "Parent"})).json()
    assert created["id"].startswith("ses_")
    assert len(created["id"]) == 30
    assert created["directory"] == str(project)
    assert created["title"] == "Parent"
    assert created["projectID"] == "global"
    assert created["path"] == ""
    child = (await client.post("/session", json={"parentID": created["id"]})).json()
    assert child["title"].startswith("Child session - ")
    assert [s["id"] for s in (await client.get(f"/session/{created['id']}/children")).json()] == [
        child["id"]
    ]
    patched = (await client.patch(f"/session/{created['id']}", json={"title": "Renamed"})).json()
    assert patched["title"] == "Renamed"
    assert {s["id"] for s in (await client.get("/session")).json()} == {created["id"], child["id"]}
    assert (await client.delete(f"/session/{created['id']}")).json() is True
    gone = await client.get(f"/session/{child['id']}")
    assert gone.status_code == 404
    assert gone.json() == {
        "name": "NotFoundError",
        "data": {"message": f"Session not found: {child['id']}"},
    }


async def test_error_shapes_match_the_samples(client: httpx.AsyncClient) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    bad = await client.post(f"/session/{sid}/message", json={"parts": "nope"})
    assert bad.status_code == 400
    assert bad.json()["name"] == "BadRequest"
    assert bad.json()["data"]["kind"] == "Payload"
    not_json = await client.post(
        f"/session/{sid}/message", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 500
    assert not_json.json()["name"] == "UnknownError"
    assert (await client.get("/session/nope")).status_code == 500
    assert (await client.post("/session/ses_unknown/abort")).json() is True
    assert (await client.get("/session/ses_unknown/message")).status_code == 404


async def test_blocking_prompt_answers_and_persists_the_transcript(
    client: httpx.AsyncClient,
) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    reply = await client.post(
        f"/session/{sid}/message",
        json=scripted(reply="hello there", usage={"input": 50, "output": 5}),
    )
    body = reply.json()
    assert body["info"]["role"] == "assistant"
    assert body["info"]["finish"] == "stop"
    assert body["info"]["tokens"]["input"] == 50
    assert body["info"]["tokens"]["output"] == 5
    assert [p["type"] for p in body["parts"]] == ["step-start", "text", "step-finish"]
    assert body["parts"][1]["text"] == "hello there"
    transcript = (await client.get(f"/session/{sid}/message")).json()
    assert [m["info"]["role"] for m in transcript] == ["user", "assistant"]
    one = await client.get(f"/session/{sid}/message/{body['info']['id']}")
    assert one.json()["info"] == body["info"]
    assert (await client.get("/session/status")).json() == {}


async def test_default_reply_is_ok(client: httpx.AsyncClient) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    body = (await client.post(f"/session/{sid}/message", json=text_prompt("hi"))).json()
    assert body["parts"][1]["text"] == "ok"


async def test_async_prompt_event_order(client: httpx.AsyncClient) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    async with events(client) as log:
        response = await client.post(
            f"/session/{sid}/prompt_async", json=scripted(reply="async reply here")
        )
        assert response.status_code == 204
        await log.wait_for(lambda e: e["type"] == "session.idle")
    kinds = [k for k in log.types(sid) if k not in ("session.updated", "session.diff")]
    assert kinds[:4] == [
        "message.updated",
        "message.part.updated",
        "session.status",
        "message.updated",
    ]
    deltas = [e["properties"]["delta"] for e in log.events if e["type"] == "message.part.delta"]
    assert deltas == ["async ", "reply ", "here"]
    assert kinds[-3:] == ["session.status", "session.status", "session.idle"][-3:] or kinds[
        -2:
    ] == [
        "session.status",
        "session.idle",
    ]
    assert all(e["id"].startswith("evt_") for e in log.events)


async def test_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(SimBindError):
        async with SimServer.running(tmp_path, host="0.0.0.0"):
            pass


async def test_basic_auth(tmp_path: Path) -> None:
    async with (
        SimServer.running(tmp_path, password="s3cret") as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        refused = await client.get("/global/health")
        assert refused.status_code == 401
        assert refused.content == b""
        assert refused.headers["www-authenticate"] == 'Basic realm="Secure Area"'
        wrong = base64.b64encode(b"opencode:nope").decode()
        assert (
            await client.get("/global/health", headers={"authorization": f"Basic {wrong}"})
        ).status_code == 401
        ok = await client.get("/global/health", auth=("opencode", "s3cret"))
        assert ok.status_code == 200


async def test_lifecycle_refuses_misuse(tmp_path: Path) -> None:
    async with SimServer.running(tmp_path) as sim:
        running = sim.state
    assert running is SimServerState.RUNNING
    assert sim.state.value == "stopped"
    with pytest.raises(SimLifecycleError, match="stopped"):
        await sim.restart()


async def test_heartbeat_is_configurable(tmp_path: Path) -> None:
    async with SimServer.running(tmp_path, config=SimConfig(heartbeat=0.05)) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as client, events(client) as log:
            assert log.events[0]["type"] == "server.connected"
            await log.wait_for(lambda e: e["type"] == "server.heartbeat")
        async with (
            httpx.AsyncClient(base_url=sim.base_url) as client,
            events(client, "/global/event") as log,
        ):
            assert log.events[0] == {"payload": log.events[0]["payload"]}
            await log.wait_for(lambda e: e["payload"]["type"] == "server.heartbeat")
