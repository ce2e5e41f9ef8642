"""Reading a turn's answers back where OpenCode 1.18.33 refuses the message list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from opencode_orchestrator.opencode import AssistantMessage
from tests.opencode.fakes import FakeOpenCode, assistant, user

pytestmark = pytest.mark.anyio

_REFUSED = {
    "name": "BadRequest",
    "data": {"message": "Expected OutputFormatJsonSchema", "kind": "Body"},
}


def _transcript(answers: int, *, formatted: bool = True) -> list[dict[str, Any]]:
    prompt = user()
    if formatted:
        prompt["format"] = {"type": "json_schema", "schema": {}, "retryCount": 2}
    steps = [
        {
            "info": assistant(id=f"msg_a{n}", time={"created": 2 + n, "completed": 3 + n}),
            "parts": [],
        }
        for n in range(answers)
    ]
    return [{"info": prompt, "parts": []}, *steps]


def _serve(fake: FakeOpenCode, messages: list[dict[str, Any]]) -> list[int | None]:
    """Answer the list as 1.18.33 does: 400 when the window holds a ``format`` prompt."""
    limits: list[int | None] = []

    def listing(request: httpx.Request) -> httpx.Response:
        raw = request.url.params.get("limit")
        limit = None if raw is None else int(raw)
        limits.append(limit)
        window = messages if limit is None else messages[-limit:]
        if any("format" in m["info"] for m in window):
            return httpx.Response(400, json=_REFUSED)
        return httpx.Response(200, json=window)

    fake.on("GET", "/session/ses_1/message", listing)
    return limits


@pytest.mark.parametrize("answers", [1, 2, 3, 5, 8, 13])
async def test_every_answer_of_a_formatted_turn_is_read_from_the_newest_end(answers: int) -> None:
    fake = FakeOpenCode()
    limits = _serve(fake, _transcript(answers))
    async with fake.client() as client:
        found = await client.answers_to("ses_1", "msg_1")
    assert [m.id for m in found] == [f"msg_a{n}" for n in range(answers)]
    assert all(isinstance(m, AssistantMessage) for m in found)
    assert None not in limits, "never the whole list"
    assert len(limits) <= 2 * answers.bit_length() + 1  # doubling, then halving


async def test_an_unanswered_prompt_has_no_answers() -> None:
    fake = FakeOpenCode()
    limits = _serve(fake, _transcript(0))
    async with fake.client() as client:
        assert await client.answers_to("ses_1", "msg_1") == []
    assert limits == [1]


async def test_without_a_format_prompt_the_walk_stops_at_the_prompt() -> None:
    fake = FakeOpenCode()
    _serve(fake, _transcript(3, formatted=False))
    async with fake.client() as client:
        found = await client.answers_to("ses_1", "msg_1")
    assert [m.id for m in found] == ["msg_a0", "msg_a1", "msg_a2"]


async def test_answers_to_another_prompt_are_not_this_turns() -> None:
    fake = FakeOpenCode()
    _serve(fake, _transcript(2))
    async with fake.client() as client:
        assert await client.answers_to("ses_1", "msg_other") == []


async def test_the_newest_assistant_message_survives_the_refused_list() -> None:
    fake = FakeOpenCode()
    limits = _serve(fake, _transcript(2))
    async with fake.client() as client:
        newest = await client.last_assistant_message("ses_1")
    assert newest is not None
    assert newest.id == "msg_a1"
    assert limits == [20, 1]
