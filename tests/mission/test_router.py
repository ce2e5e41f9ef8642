"""Routing events to sessions, typed or left unparsed."""

from __future__ import annotations

from typing import Any

import pytest

from opencode_orchestrator.mission.router import WATCHED_TYPES, session_of, watched
from opencode_orchestrator.opencode.models import UnparsedEvent, parse_event


def _unparsed(kind: str, **properties: Any) -> UnparsedEvent:
    return UnparsedEvent(type=kind, properties=properties)


@pytest.mark.parametrize(
    ("event", "session"),
    [
        (_unparsed("message.part.delta", sessionID="ses_a", delta="x"), "ses_a"),
        (_unparsed("message.part.updated", part={"sessionID": "ses_b", "type": "text"}), "ses_b"),
        (_unparsed("message.updated", info={"sessionID": "ses_c", "role": "user"}), "ses_c"),
        (_unparsed("session.updated", info={"id": "ses_d"}), None),
        (_unparsed("file.edited", file="a.py"), None),
        (_unparsed("message.part.delta", sessionID=7), None),
    ],
)
def test_an_unparsed_event_is_routed_by_the_session_it_names(
    event: UnparsedEvent, session: str | None
) -> None:
    assert session_of(event) == session


def test_a_typed_part_event_is_routed_by_its_parts_session() -> None:
    event = parse_event(
        {
            "type": "message.part.updated",
            "properties": {
                "part": {
                    "id": "prt_1",
                    "sessionID": "ses_e",
                    "messageID": "msg_1",
                    "type": "text",
                    "text": "hi",
                }
            },
        }
    )
    assert session_of(event) == "ses_e"


def test_the_watchers_types_are_parsed() -> None:
    # turns.watch reads the content of messages and parts; the rest only signals life.
    assert {"message.updated", "message.part.updated"} <= WATCHED_TYPES


@pytest.mark.parametrize(
    ("kind", "properties", "parsed"),
    [
        ("message.updated", {"info": {"role": "assistant"}}, True),
        (
            "message.part.updated",
            {"part": {"type": "tool", "tool": "write", "state": {"status": "completed"}}},
            True,
        ),
        (
            "message.part.updated",
            {"part": {"type": "tool", "tool": "bash", "state": {"status": "error"}}},
            True,
        ),
        # Pending and running tool updates only tell that the session is alive.
        (
            "message.part.updated",
            {"part": {"type": "tool", "tool": "write", "state": {"status": "running"}}},
            False,
        ),
        ("message.part.updated", {"part": {"type": "tool", "tool": "write"}}, False),
        ("message.part.updated", {"part": {"type": "text", "text": "hi"}}, False),
        ("message.part.updated", {"part": "not an object"}, False),
        ("session.updated", {"info": {"id": "ses_a"}}, False),
        ("message.part.delta", {"sessionID": "ses_a", "delta": "x"}, False),
    ],
)
def test_the_router_parses_messages_and_tool_parts_only(
    kind: str, properties: dict[str, Any], parsed: bool
) -> None:
    assert watched(kind, properties) is parsed
