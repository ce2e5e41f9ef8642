"""Structured output: the json_schema format sent, and the value or a typed error back."""

from __future__ import annotations

import pydantic
import pytest

from opencode_orchestrator.opencode import (
    OpenCodeAbortedError,
    OpenCodeStructuredOutputError,
    json_schema_format,
)
from tests.opencode.fakes import FakeOpenCode, assistant, body

pytestmark = pytest.mark.anyio


class Verdict(pydantic.BaseModel):
    approved: bool
    reasons: list[str]


def test_format_is_opencode_output_format_json_schema() -> None:
    assert json_schema_format(Verdict) == {
        "type": "json_schema",
        "schema": Verdict.model_json_schema(),
    }
    assert json_schema_format(Verdict, retry_count=2)["retryCount"] == 2
    with pytest.raises(ValueError, match="retry_count"):
        json_schema_format(Verdict, retry_count=-1)


async def test_structured_prompt_parses_the_model() -> None:
    fake = FakeOpenCode()
    structured = {"approved": True, "reasons": ["tests pass"]}
    fake.on_json(
        "POST", "/session/ses_1/message", {"info": assistant(structured=structured), "parts": []}
    )
    async with fake.client() as client:
        result = await client.prompt_structured("ses_1", "judge", Verdict, retry_count=1)
    assert result.value == Verdict(approved=True, reasons=["tests pass"])
    assert result.message.tokens.output == 5
    sent = body(fake.requests[0])
    assert sent["format"] == {
        "type": "json_schema",
        "schema": Verdict.model_json_schema(),
        "retryCount": 1,
    }


async def test_server_side_structured_output_error_is_typed() -> None:
    fake = FakeOpenCode()
    error = {"name": "StructuredOutputError", "data": {"message": "gave up", "retries": 2}}
    fake.on_json("POST", "/session/ses_1/message", {"info": assistant(error=error), "parts": []})
    async with fake.client() as client:
        with pytest.raises(OpenCodeStructuredOutputError) as caught:
            await client.prompt_structured("ses_1", "judge", Verdict)
    assert caught.value.data["retries"] == 2
    assert caught.value.validation_error is None


@pytest.mark.parametrize("structured", [{"approved": "maybe?"}, None])
async def test_data_that_does_not_validate_is_a_structured_output_error(structured: object) -> None:
    fake = FakeOpenCode()
    fake.on_json(
        "POST", "/session/ses_1/message", {"info": assistant(structured=structured), "parts": []}
    )
    async with fake.client() as client:
        with pytest.raises(OpenCodeStructuredOutputError) as caught:
            await client.prompt_structured("ses_1", "judge", Verdict)
    assert caught.value.code == "opencode.api.structured_output"
    assert (caught.value.validation_error is not None) == (structured is not None)


async def test_another_turn_error_keeps_its_own_type() -> None:
    fake = FakeOpenCode()
    error = {"name": "MessageAbortedError", "data": {"message": "aborted"}}
    fake.on_json("POST", "/session/ses_1/message", {"info": assistant(error=error), "parts": []})
    async with fake.client() as client:
        with pytest.raises(OpenCodeAbortedError):
            await client.prompt_structured("ses_1", "judge", Verdict)
