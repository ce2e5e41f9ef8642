"""Provider failures as OpenCode reports them: retry status, APIError, context overflow."""

from __future__ import annotations

import pytest

from opencode_orchestrator.opencode import AssistantMessage, OpenCodeClient
from tests.contract.conftest import RawEvents
from tests.contract.test_prompts import scripted

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]


async def test_rate_limit_shows_retry_status_then_answers(
    client: OpenCodeClient, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: 429")
    result = await client.prompt(
        session.id, scripted("Go.", reply="after the storm", fault="rate_limit", fault_count=2)
    )
    assert result.text == "after the storm"
    assert isinstance(result.info, AssistantMessage)
    assert result.info.error is None

    retries = [
        e["properties"]["status"]
        for e in events.of("session.status", session.id)
        if e["properties"]["status"]["type"] == "retry"
    ]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(r["message"] and r["next"] > 0 for r in retries)


async def test_provider_error_ends_the_turn_with_api_error(
    client: OpenCodeClient, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: api error")
    result = await client.prompt(session.id, scripted("Go.", fault="api_error"))
    assert isinstance(result.info, AssistantMessage)
    assert result.info.error is not None
    assert result.info.error.name == "APIError"
    assert result.info.error.data.get("isRetryable") is False

    error = await events.wait_for("session.error", session.id)
    assert error["properties"]["error"]["name"] == "APIError"
    await events.wait_for("session.idle", session.id)


async def test_context_overflow_is_reported_as_such(
    client: OpenCodeClient, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: overflow")
    result = await client.prompt(session.id, scripted("Go.", fault="context_overflow"))
    assert isinstance(result.info, AssistantMessage)
    assert result.info.error is not None
    assert result.info.error.name == "ContextOverflowError"
    error = await events.wait_for("session.error", session.id)
    assert error["properties"]["error"]["name"] == "ContextOverflowError"
