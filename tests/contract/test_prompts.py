"""Prompts: blocking and async, the events of a turn, tokens and cost, structured output."""

from __future__ import annotations

import anyio
import pytest
from pydantic import BaseModel

from opencode_orchestrator.mission import ReviewVerdict, Verdict
from opencode_orchestrator.opencode import (
    AssistantMessage,
    OpenCodeClient,
    OpenCodeStructuredOutputError,
)
from opencode_orchestrator.opencode.models import SessionIdleEvent, SessionStatusEvent
from opencode_orchestrator.testing.script import ScriptDirective, ScriptedUsage, render_directive
from tests.contract.conftest import ContractServer, RawEvents

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]


def scripted(text: str, **directive: object) -> str:
    return f"{text}\n{render_directive(ScriptDirective.model_validate(directive))}"


async def test_blocking_prompt_reports_text_tokens_and_cost(client: OpenCodeClient) -> None:
    session = await client.create_session(title="contract: blocking")
    usage = ScriptedUsage(input=120, output=8)
    result = await client.prompt(session.id, scripted("Say hi.", reply="hi there", usage=usage))

    info = result.info
    assert isinstance(info, AssistantMessage)
    assert info.session_id == session.id
    assert info.error is None
    assert info.finish == "stop"
    assert result.text == "hi there"
    assert (info.tokens.input, info.tokens.output) == (120, 8)
    assert info.tokens.reasoning == 0
    assert info.cost >= 0
    assert info.time.completed is not None
    kinds = [part.type for part in result.parts]
    assert kinds == ["step-start", "text", "step-finish"]

    messages = await client.list_messages(session.id)
    assert [m.info.role for m in messages] == ["user", "assistant"]
    assert messages[-1].info.id == info.id


async def test_async_prompt_emits_busy_then_idle(client: OpenCodeClient, events: RawEvents) -> None:
    session = await client.create_session(title="contract: async")
    seen: list[str] = []
    async with client.events() as stream:
        with anyio.fail_after(20):
            await stream.subscribed()
        await client.prompt_async(session.id, scripted("Go.", reply="done async"))
        with anyio.fail_after(30):
            async for event in stream:
                if isinstance(event, SessionStatusEvent) and event.properties.session_id == (
                    session.id
                ):
                    seen.append(event.properties.status.type)
                if isinstance(event, SessionIdleEvent) and event.properties.session_id == (
                    session.id
                ):
                    break
    assert seen[0] == "busy"
    assert seen[-1] == "idle"

    last = await client.last_assistant_message(session.id)
    assert last is not None
    assert last.finish == "stop"
    # The raw stream carried the text deltas and the final assistant message.
    deltas = events.of("message.part.delta", session.id)
    assert "".join(e["properties"]["delta"] for e in deltas) == "done async"
    updates = [
        e["properties"]["info"]
        for e in events.of("message.updated", session.id)
        if e["properties"]["info"]["role"] == "assistant"
    ]
    assert updates[-1]["finish"] == "stop"


async def test_status_shows_busy_while_a_turn_runs(
    client: OpenCodeClient, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: busy")
    await client.prompt_async(session.id, scripted("Wait.", delay=30))
    await events.wait_for_assistant(session.id)
    status = await client.session_status()
    assert status[session.id].type == "busy"

    assert await client.abort(session.id) is True
    await events.wait_for("session.idle", session.id)
    assert session.id not in await client.session_status()


async def test_abort_mid_call_ends_the_turn_with_message_aborted(
    client: OpenCodeClient, server: ContractServer, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: abort")
    await client.prompt_async(session.id, scripted("Hang.", delay=60))
    await events.wait_for_assistant(session.id)
    if server.llm is not None:
        with anyio.fail_after(20):
            await server.llm.wait_stream_open()  # the provider call is under way
    assert await client.abort(session.id) is True

    error = await events.wait_for("session.error", session.id)
    assert error["properties"]["error"]["name"] == "MessageAbortedError"
    await events.wait_for("session.idle", session.id)
    last = await client.last_assistant_message(session.id)
    assert last is not None
    assert last.error is not None
    assert last.error.name == "MessageAbortedError"
    if server.llm is not None:
        with anyio.fail_after(20):
            await server.llm.wait_streams_closed()  # the provider call was cancelled


async def test_abort_as_the_turn_starts_is_silent_but_recorded(
    client: OpenCodeClient, events: RawEvents
) -> None:
    # Measured on the real server: an abort before the provider call is under
    # way ends the turn with no session.error, so a client must read the message.
    session = await client.create_session(title="contract: early abort")
    await client.prompt_async(session.id, scripted("Hang.", delay=60))
    await events.wait_for_assistant(session.id)
    assert await client.abort(session.id) is True
    await events.wait_for("session.idle", session.id)
    last = await client.last_assistant_message(session.id)
    assert last is not None
    assert last.error is not None
    assert last.error.name == "MessageAbortedError"
    for error in events.of("session.error", session.id):
        assert error["properties"]["error"]["name"] == "MessageAbortedError"


class Answer(BaseModel):
    answer: str
    score: int


async def test_structured_output_is_parsed_into_the_model(client: OpenCodeClient) -> None:
    session = await client.create_session(title="contract: structured")
    value = {"verdict": "fail", "findings": [{"severity": "major", "message": "no tests"}]}
    result = await client.prompt_structured(
        session.id, scripted("Review it.", structured=value), ReviewVerdict
    )
    assert result.value.verdict is Verdict.FAIL
    assert result.value.findings[0].message == "no tests"
    assert result.message.finish == "tool-calls"
    assert result.message.structured == value


async def test_structured_output_missing_raises_structured_output_error(
    client: OpenCodeClient,
) -> None:
    session = await client.create_session(title="contract: structured error")
    with pytest.raises(OpenCodeStructuredOutputError) as caught:
        await client.prompt_structured(session.id, scripted("Answer.", reply="plain"), Answer)
    assert caught.value.name == "StructuredOutputError"


async def test_structured_output_is_not_validated_by_the_server(client: OpenCodeClient) -> None:
    # OpenCode stores whatever the model passed; validating is the client's job.
    session = await client.create_session(title="contract: structured invalid")
    with pytest.raises(OpenCodeStructuredOutputError) as caught:
        await client.prompt_structured(
            session.id, scripted("Answer.", structured={"answer": 5}), Answer
        )
    assert caught.value.validation_error is not None


async def test_a_prompt_without_agent_goes_to_the_default_agent(client: OpenCodeClient) -> None:
    # Measured on the real server: neither the session's agent nor the last
    # prompt's agent carries over; the engine must name its agent every time.
    session = await client.create_session(title="contract: agent", agent="plan")
    planned = await client.prompt(session.id, scripted("One.", reply="1"), agent="plan")
    assert isinstance(planned.info, AssistantMessage)
    assert planned.info.agent == "plan"
    default = await client.prompt(session.id, scripted("Two.", reply="2"))
    assert isinstance(default.info, AssistantMessage)
    assert default.info.agent == "build"
