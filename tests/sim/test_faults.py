from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from opencode_orchestrator.sim import FaultConfig, SimConfig, SimServer
from tests.sim.helpers import events, scripted

pytestmark = pytest.mark.anyio

FAST = SimConfig(seed=7, retry_delay=0.001)


async def _turn(client: httpx.AsyncClient, prompt: dict[str, Any]) -> tuple[Any, list[Any]]:
    sid = (await client.post("/session", json={})).json()["id"]
    async with events(client) as log:
        body = (await client.post(f"/session/{sid}/message", json=prompt)).json()
        await log.wait_for(lambda e: e["type"] == "session.idle")
    return body, [e for e in log.events if e["properties"].get("sessionID") == sid]


@pytest.mark.parametrize("sim_config", [FAST])
@pytest.mark.parametrize(
    ("fault", "error_name"),
    [("api_error", "APIError"), ("context_overflow", "ContextOverflowError"), ("die", "APIError")],
)
async def test_scripted_faults_end_in_errors(
    client: httpx.AsyncClient, fault: str, error_name: str
) -> None:
    body, log = await _turn(client, scripted(fault=fault))
    assert body["info"]["error"]["name"] == error_name
    errors = [e for e in log if e["type"] == "session.error"]
    assert errors
    assert errors[0]["properties"]["error"]["name"] == error_name
    if fault == "die":
        assert body["info"]["error"]["data"]["isRetryable"] is True


@pytest.mark.parametrize("sim_config", [FAST])
async def test_rate_limit_retries_then_answers(client: httpx.AsyncClient) -> None:
    body, log = await _turn(
        client, scripted(reply="after limits", fault="rate_limit", fault_count=2)
    )
    assert body["parts"][1]["text"] == "after limits"
    retries = [
        e["properties"]["status"]["attempt"]
        for e in log
        if e["type"] == "session.status" and e["properties"]["status"]["type"] == "retry"
    ]
    assert retries == [1, 2]


async def test_abort_ends_a_hanging_turn(client: httpx.AsyncClient) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    async with events(client) as log:
        await client.post(f"/session/{sid}/prompt_async", json=scripted(delay=60))
        await log.wait_for(
            lambda e: (
                e["type"] == "message.updated" and e["properties"]["info"]["role"] == "assistant"
            )
        )
        assert (await client.get("/session/status")).json() == {sid: {"type": "busy"}}
        assert (await client.post(f"/session/{sid}/abort")).json() is True
        await log.wait_for(lambda e: e["type"] == "session.idle")
        error = await log.wait_for(lambda e: e["type"] == "session.error")
    assert error["properties"]["error"] == {
        "name": "MessageAbortedError",
        "data": {"message": "Aborted"},
    }
    transcript = (await client.get(f"/session/{sid}/message")).json()
    assert transcript[-1]["info"]["error"]["name"] == "MessageAbortedError"


async def test_random_faults_and_hang_via_control_api(client: httpx.AsyncClient) -> None:
    set_ = await client.post("/__sim/faults", json={"api_error_rate": 1.0})
    assert set_.json()["api_error_rate"] == 1.0
    body, _ = await _turn(client, scripted())
    assert body["info"]["error"]["name"] == "APIError"
    await client.post("/__sim/faults", json={"api_error_rate": 0.0, "hang_rate": 1.0})
    sid = (await client.post("/session", json={})).json()["id"]
    async with events(client) as log:
        await client.post(f"/session/{sid}/prompt_async", json=scripted())
        await log.wait_for(lambda e: e["type"] == "session.status")
        await client.post(f"/session/{sid}/abort")
        await log.wait_for(lambda e: e["type"] == "session.idle")
    assert (await client.post("/__sim/faults", json={"bogus": 1})).status_code == 400


async def test_storm_answers_429_with_retry_after(
    sim: SimServer, client: httpx.AsyncClient
) -> None:
    sim.set_faults(storm={"share": 1.0, "duration": 30, "retry_after": 2})
    refused = await client.get("/global/health")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2"
    assert (await client.get("/__sim/faults")).status_code == 200
    sim.set_faults(storm=None)
    assert (await client.get("/global/health")).status_code == 200


async def test_drop_streams_ends_open_streams(sim: SimServer, client: httpx.AsyncClient) -> None:
    async with events(client) as log:
        assert sim.drop_streams() == 1
        with anyio.fail_after(5):
            await log.ended.wait()


@pytest.mark.parametrize("sim_config", [SimConfig(faults=FaultConfig(stream_drop_rate=1.0))])
async def test_stream_drop_rate(client: httpx.AsyncClient) -> None:
    async with events(client) as log:
        await client.post("/session", json={})
        with anyio.fail_after(5):
            await log.ended.wait()
    assert [e["type"] for e in log.events] == ["server.connected"]
