"""Models tolerate what a newer server adds, and never crash on unknown kinds."""

from __future__ import annotations

import pydantic
import pytest

from opencode_orchestrator.opencode.errors import OpenCodeContextOverflowError
from opencode_orchestrator.opencode.models import (
    AssistantMessage,
    MessageErrorName,
    MessageWithParts,
    PermissionRule,
    Session,
    SessionIdleEvent,
    SessionStatusEvent,
    TextPart,
    ToolPart,
    UnknownEvent,
    UnknownMessage,
    UnknownPart,
    UnparsedEvent,
    UserMessage,
    parse_event,
)
from opencode_orchestrator.opencode.models.events import unparsed_event
from tests.opencode.fakes import assistant, session, text_part, user


def test_assistant_message_exposes_tokens_cost_finish_and_a_typed_error() -> None:
    error = {"name": "ContextOverflowError", "data": {"message": "too long"}}
    info = MessageWithParts.model_validate({"info": assistant(error=error), "parts": []}).info
    assert isinstance(info, AssistantMessage)
    assert (info.tokens.input, info.tokens.output, info.tokens.reasoning) == (10, 5, 1)
    assert (info.tokens.cache.read, info.tokens.cache.write) == (2, 3)
    assert info.cost == 0.25
    assert info.finish == "stop"
    assert info.error is not None
    assert info.error.kind is MessageErrorName.CONTEXT_OVERFLOW
    assert isinstance(info.error.to_exception(), OpenCodeContextOverflowError)


def test_unknown_parts_and_roles_parse_generically_and_keep_their_fields() -> None:
    tool = {
        "id": "prt_t",
        "sessionID": "ses_1",
        "messageID": "msg_2",
        "type": "tool",
        "callID": "c1",
        "tool": "bash",
        "state": {"status": "completed", "input": {"command": "ls"}, "output": "x"},
    }
    result = MessageWithParts.model_validate(
        {
            "info": assistant(),
            "parts": [text_part("hello "), tool, {"type": "hologram", "id": "prt_h", "depth": 3}],
        }
    )
    text, tool_part, odd = result.parts
    assert isinstance(text, TextPart)
    assert isinstance(tool_part, ToolPart)
    assert tool_part.state.output == "x"
    assert isinstance(odd, UnknownPart)
    assert odd.model_extra == {"depth": 3}
    assert result.text == "hello "
    other = MessageWithParts.model_validate({"info": {"role": "system", "id": "m"}, "parts": []})
    assert isinstance(other.info, UnknownMessage)
    assert isinstance(MessageWithParts.model_validate({"info": user()}).info, UserMessage)


def test_new_fields_are_kept_not_rejected() -> None:
    parsed = Session.model_validate(session(shinyNewField={"a": 1}))
    assert parsed.id == "ses_1"
    assert parsed.model_extra == {"shinyNewField": {"a": 1}}


def test_permission_rules_serialise_with_opencode_names() -> None:
    rule = PermissionRule(permission="bash", pattern="*", action="deny")  # type: ignore[arg-type]
    assert rule.to_wire() == {"permission": "bash", "pattern": "*", "action": "deny"}


def test_events_parse_by_type_and_unknown_types_pass_through() -> None:
    idle = parse_event({"type": "session.idle", "properties": {"sessionID": "ses_1"}})
    assert isinstance(idle, SessionIdleEvent)
    assert idle.properties.session_id == "ses_1"
    assert not idle.synthetic
    busy = parse_event(
        {"type": "session.status", "properties": {"sessionID": "s", "status": {"type": "busy"}}}
    )
    assert isinstance(busy, SessionStatusEvent)
    assert busy.properties.status.is_active
    novel = parse_event({"id": "evt_1", "type": "session.next.text.delta", "properties": {"x": 1}})
    assert isinstance(novel, UnknownEvent)
    assert (novel.type, novel.id, novel.properties) == (
        "session.next.text.delta",
        "evt_1",
        {"x": 1},
    )


def test_a_known_type_with_a_drifted_shape_degrades_to_unknown() -> None:
    drifted = parse_event({"type": "session.idle", "properties": {"session": "renamed"}})
    assert isinstance(drifted, UnknownEvent)
    assert drifted.type == "session.idle"
    spoofed = parse_event({"type": "client.reconnected", "properties": {}})
    assert isinstance(spoofed, UnknownEvent)


def test_an_unparsed_event_is_built_as_model_construct_builds_it() -> None:
    sent = {
        "id": "evt_1",
        "type": "session.updated",
        "properties": {"sessionID": "ses_1", "info": {"id": "ses_1"}},
        "directory": "/p",
        "project": "prj",
    }
    fast = unparsed_event("session.updated", sent)
    slow = UnparsedEvent.model_construct(
        type="session.updated",
        properties=sent["properties"],
        id="evt_1",
        directory="/p",
        project="prj",
        synthetic=False,
    )
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert fast.model_fields_set == slow.model_fields_set
    assert (fast.model_extra, fast.__pydantic_private__) == (slow.model_extra, None)
    assert fast.model_dump(exclude_unset=True) == slow.model_dump(exclude_unset=True)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        fast.type = "other"


def test_an_unparsed_event_keeps_only_fields_of_the_right_type() -> None:
    odd = unparsed_event("x.y", {"type": "x.y", "id": 7, "properties": [1], "project": None})
    assert (odd.id, odd.properties, odd.directory, odd.project) == (None, {}, None, None)
