"""A real ``opencode serve`` driven by the fake LLM: the basics the rest relies on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson
import pytest

from opencode_orchestrator.testing.fake_llm import FakeLLM
from opencode_orchestrator.testing.fake_llm_turns import STRUCTURED_OUTPUT_TOOL
from opencode_orchestrator.testing.real_opencode import RealOpenCode
from opencode_orchestrator.testing.script import ScriptDirective, render_directive

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]


@pytest.fixture
async def client(opencode: RealOpenCode) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=opencode.base_url, timeout=60) as http:
        yield http


def _parts(text: str, **directive: Any) -> list[dict[str, str]]:
    return [{"type": "text", "text": f"{text}\n{render_directive(ScriptDirective(**directive))}"}]


async def _session(client: httpx.AsyncClient) -> str:
    response = await client.post("/session", json={})
    assert response.status_code == 200
    session_id: str = response.json()["id"]
    return session_id


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/global/health")
    assert response.status_code == 200
    assert response.json()["healthy"] is True


async def test_blocking_prompt_gets_the_scripted_reply_and_usage(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    session_id = await _session(client)
    usage = {"input": 120, "output": 8}
    response = await client.post(
        f"/session/{session_id}/message",
        json={"parts": _parts("Say hello.", reply="hello from the fake", usage=usage)},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["info"]["role"] == "assistant"
    assert body["info"]["finish"] == "stop"
    assert body["info"]["tokens"]["input"] == 120
    assert body["info"]["tokens"]["output"] == 8
    texts = [part["text"] for part in body["parts"] if part["type"] == "text"]
    assert texts == ["hello from the fake"]
    prompts = [orjson.dumps(request["messages"][-1]) for request in fake_llm.chat_requests]
    assert any(b"Say hello." in prompt for prompt in prompts)


async def test_prompt_async_events_end_with_session_idle(
    client: httpx.AsyncClient, opencode: RealOpenCode
) -> None:
    session_id = await _session(client)
    seen: list[dict[str, Any]] = []
    connected = anyio.Event()

    async def listen() -> None:
        async with (
            httpx.AsyncClient(base_url=opencode.base_url, timeout=None) as events,
            events.stream("GET", "/event") as stream,
        ):
            async for line in stream.aiter_lines():
                if not line.startswith("data: "):
                    continue
                event = orjson.loads(line.removeprefix("data: "))
                if event["type"] == "server.connected":
                    connected.set()
                seen.append(event)
                props = event["properties"]
                if event["type"] == "session.idle" and props.get("sessionID") == session_id:
                    return

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(listen)
            await connected.wait()
            response = await client.post(
                f"/session/{session_id}/prompt_async", json={"parts": _parts("Hi.", reply="async")}
            )
            assert response.status_code == 204
    types = [event["type"] for event in seen]
    assert types[0] == "server.connected"
    assert "message.part.delta" in types
    statuses = [
        event["properties"]["status"]["type"] for event in seen if event["type"] == "session.status"
    ]
    assert statuses[0] == "busy"
    assert statuses[-1] == "idle"


async def test_structured_output_through_the_structured_output_tool(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    session_id = await _session(client)
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    response = await client.post(
        f"/session/{session_id}/message",
        json={
            "parts": _parts("Answer in JSON.", structured={"answer": "yes"}),
            "format": {"type": "json_schema", "schema": schema},
        },
    )
    assert response.status_code == 200
    assert response.json()["info"]["structured"] == {"answer": "yes"}
    last = fake_llm.chat_requests[-1]
    assert STRUCTURED_OUTPUT_TOOL in {tool["function"]["name"] for tool in last["tools"]}
    assert last["tool_choice"] == "required"


@pytest.mark.parametrize(
    ("fault", "error_name"),
    [("api_error", "APIError"), ("context_overflow", "ContextOverflowError")],
)
async def test_faults_surface_as_message_errors(
    client: httpx.AsyncClient, fault: str, error_name: str
) -> None:
    session_id = await _session(client)
    response = await client.post(
        f"/session/{session_id}/message", json={"parts": _parts("Fail.", fault=fault)}
    )
    assert response.status_code == 200
    assert response.json()["info"]["error"]["name"] == error_name


async def test_restart_keeps_sessions_and_messages(
    client: httpx.AsyncClient, opencode: RealOpenCode
) -> None:
    session_id = await _session(client)
    await client.post(f"/session/{session_id}/message", json={"parts": _parts("Before.")})
    old_pid = opencode.pid
    await opencode.restart()
    assert opencode.pid != old_pid
    async with httpx.AsyncClient(base_url=opencode.base_url, timeout=60) as fresh:
        assert (await fresh.get(f"/session/{session_id}")).status_code == 200
        messages = (await fresh.get(f"/session/{session_id}/message")).json()
    assert [message["info"]["role"] for message in messages] == ["user", "assistant"]
