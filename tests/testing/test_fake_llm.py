"""The fake LLM over HTTP: what OpenCode's openai-compatible provider will receive."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import orjson
import pytest

from opencode_orchestrator.testing.fake_llm import FakeLLM
from opencode_orchestrator.testing.fake_llm_turns import (
    CONTEXT_OVERFLOW_MESSAGE,
    STRUCTURED_OUTPUT_TOOL,
    TITLE,
)
from opencode_orchestrator.testing.script import (
    ScriptDirective,
    ScriptedTool,
    ScriptedUsage,
    render_directive,
)

pytestmark = pytest.mark.anyio


def _body(text: str, *, stream: bool = True, **extra: Any) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": "You are opencode."},
        {"role": "user", "content": text},
    ]
    return {"model": "fake-model", "stream": stream, "messages": messages, **extra}


def _prompt(**fields: Any) -> str:
    return "Do it.\n" + render_directive(ScriptDirective(**fields))


async def _stream(client: httpx.AsyncClient, body: dict[str, Any]) -> list[Any]:
    chunks: list[Any] = []
    async with client.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                payload = line.removeprefix("data: ")
                chunks.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return chunks


def _text(chunks: list[Any]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in chunks
        if isinstance(c, dict) and c["choices"]
    )


async def test_models_lists_the_fake_model() -> None:
    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        response = await client.get("/models")
    assert [m["id"] for m in response.json()["data"]] == ["fake-model"]


async def test_streamed_reply_carries_text_usage_and_done() -> None:
    usage = ScriptedUsage(input=120, output=8, reasoning=2, cache_read=30)
    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        chunks = await _stream(client, _body(_prompt(reply="hello there you", usage=usage)))
    assert _text(chunks) == "hello there you"
    assert chunks[-1] == "[DONE]"
    assert chunks[-3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-2]["usage"] == {
        "prompt_tokens": 150,
        "completion_tokens": 10,
        "total_tokens": 160,
        "prompt_tokens_details": {"cached_tokens": 30},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    assert llm.requests[0]["messages"][-1]["content"].startswith("Do it.")


async def test_no_directive_answers_ok_without_stream() -> None:
    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        response = await client.post("/chat/completions", json=_body("hi", stream=False))
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "ok"


async def test_title_request_gets_a_title() -> None:
    body = _body("whatever")
    body["messages"][0]["content"] = "You are a title generator. You output ONLY a thread title."
    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        chunks = await _stream(client, body)
    assert _text(chunks) == TITLE
    assert llm.chat_requests == []


async def test_tool_call_then_final_text_after_tool_result() -> None:
    tool = ScriptedTool(name="write", args={"filePath": "a.txt", "content": "x"})
    prompt = _prompt(tool=tool, reply="done")
    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        first = await _stream(client, _body(prompt))
        call = first[1]["choices"][0]["delta"]["tool_calls"][0]
        assert call["function"]["name"] == "write"
        assert orjson.loads(call["function"]["arguments"]) == tool.args
        assert first[2]["choices"][0]["finish_reason"] == "tool_calls"
        follow = _body(prompt)
        follow["messages"] += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "Wrote file successfully."},
        ]
        second = await _stream(client, follow)
    assert _text(second) == "done"


async def test_structured_calls_the_structured_output_tool_only_when_offered() -> None:
    prompt = _prompt(structured={"answer": 42})
    tools = [{"type": "function", "function": {"name": STRUCTURED_OUTPUT_TOOL, "parameters": {}}}]
    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        offered = await _stream(client, _body(prompt, tools=tools))
        plain = await _stream(client, _body(prompt))
    function = offered[1]["choices"][0]["delta"]["tool_calls"][0]["function"]
    assert function["name"] == STRUCTURED_OUTPUT_TOOL
    assert orjson.loads(function["arguments"]) == {"answer": 42}
    assert _text(plain) == "ok"


async def test_rate_limit_lasts_fault_count_calls_of_the_same_prompt() -> None:
    prompt = _prompt(fault="rate_limit", fault_count=2, reply="finally")
    async with (
        FakeLLM.running(retry_after=0.25) as llm,
        httpx.AsyncClient(base_url=llm.base_url) as client,
    ):
        limited = [await client.post("/chat/completions", json=_body(prompt)) for _ in range(2)]
        answered = await _stream(client, _body(prompt))
    assert [r.status_code for r in limited] == [429, 429]
    assert limited[0].headers["retry-after-ms"] == "250"
    assert limited[0].headers["retry-after"] == "1"
    assert limited[0].json()["error"]["code"] == "rate_limit_exceeded"
    assert _text(answered) == "finally"


@pytest.mark.parametrize(
    ("fault", "message"),
    [("api_error", "scripted api_error"), ("context_overflow", CONTEXT_OVERFLOW_MESSAGE)],
)
async def test_non_retryable_faults_answer_400(fault: str, message: str) -> None:
    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        response = await client.post("/chat/completions", json=_body(_prompt(fault=fault)))
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


async def test_bad_directive_is_a_loud_api_error() -> None:
    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        response = await client.post("/chat/completions", json=_body("@script {nope"))
    assert response.status_code == 400
    assert "bad @script directive" in response.json()["error"]["message"]


async def test_die_drops_the_connection_mid_stream() -> None:
    prompt = _prompt(fault="die", reply="one two three four five six")
    seen: list[str] = []

    async def read_all(client: httpx.AsyncClient) -> None:
        async with client.stream("POST", "/chat/completions", json=_body(prompt)) as response:
            # One at a time: the lines before the drop must be kept.
            async for line in response.aiter_lines():
                seen.append(line)  # noqa: PERF401

    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await read_all(client)
    assert any("one two" in line for line in seen)
    assert "data: [DONE]" not in seen


async def test_delay_ends_when_the_client_goes_away() -> None:
    prompt = _prompt(delay=60)
    async with FakeLLM.running() as llm, httpx.AsyncClient(base_url=llm.base_url) as client:
        async with client.stream("POST", "/chat/completions", json=_body(prompt)) as response:
            assert response.status_code == 200
            assert llm.open_streams == 1
        with anyio.fail_after(5):
            await llm.wait_streams_closed()
    assert llm.open_streams == 0
