"""Permission rules and replies: what reject, deny, always and abort do to a turn.

As measured on a real 1.18.33 (``samples/permission_reject.json``): a reject
without a message ends the turn after the tool step, one with a message is
fed back to the model and the turn goes on; a ``deny`` rule fails the call
without asking; ``always`` stops the asking for the command's family; an abort
leaves the request listed.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from opencode_orchestrator.opencode import (
    OpenCodeClient,
    OpenCodeNotFoundError,
    PermissionReply,
    PermissionRule,
)
from opencode_orchestrator.opencode.models import AssistantMessage, PermissionAction, ToolPart
from tests.contract.conftest import RawEvents
from tests.contract.test_prompts import scripted

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]

_REJECTED = "The user rejected permission to use this specific tool call."
_DENIED = "The user has specified a rule which prevents you from using this specific tool call."
_ASK = [PermissionRule(permission="bash", pattern="*", action=PermissionAction.ASK)]


def _bash(command: str) -> dict[str, Any]:
    return {"name": "bash", "args": {"command": command, "description": "contract"}}


async def _tool_parts(client: OpenCodeClient, session_id: str) -> list[ToolPart]:
    messages = await client.list_messages(session_id)
    return [p for m in messages for p in m.parts if isinstance(p, ToolPart)]


async def _assistants(client: OpenCodeClient, session_id: str) -> list[AssistantMessage]:
    messages = await client.list_messages(session_id)
    return [m.info for m in messages if isinstance(m.info, AssistantMessage)]


async def _asked(client: OpenCodeClient, events: RawEvents, session_id: str) -> str:
    asked = await events.wait_for("permission.asked", session_id)
    request_id = str(asked["properties"]["id"])
    assert request_id in [p.id for p in await client.list_permissions()]
    return request_id


async def test_reject_fails_the_call_and_ends_the_turn(
    client: OpenCodeClient, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: reject", permission=_ASK)
    prompt = scripted("Run it.", reply="ran", tool=_bash("echo hi"))
    await client.prompt_async(session.id, prompt)
    request_id = await _asked(client, events, session.id)

    assert await client.reply_permission(request_id, PermissionReply.REJECT) is True
    await events.wait_for("session.idle", session.id)
    replied = await events.wait_for("permission.replied", session.id)
    assert replied["properties"] == {
        "sessionID": session.id,
        "requestID": request_id,
        "reply": "reject",
    }
    with pytest.raises(OpenCodeNotFoundError):
        await client.reply_permission(request_id, PermissionReply.REJECT)
    assert request_id not in [p.id for p in await client.list_permissions()]

    [tool] = await _tool_parts(client, session.id)
    assert (tool.state.status, tool.state.error) == ("error", _REJECTED)
    # No follow-up model call: one assistant message, ended by the tool step, no error.
    [assistant] = await _assistants(client, session.id)
    assert (assistant.finish, assistant.error) == ("tool-calls", None)
    assert not events.of("session.error", session.id)


async def test_reject_with_a_message_is_feedback_and_the_turn_goes_on(
    client: OpenCodeClient, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: corrected", permission=_ASK)
    prompt = scripted("Run it.", reply="ran", tool=_bash("echo hi"))
    await client.prompt_async(session.id, prompt)
    request_id = await _asked(client, events, session.id)

    feedback = "not this one, use ls"
    assert await client.reply_permission(request_id, PermissionReply.REJECT, message=feedback)
    await events.wait_for("session.idle", session.id)

    [tool] = await _tool_parts(client, session.id)
    assert tool.state.status == "error"
    assert tool.state.error == f"{_REJECTED[:-1]} with the following feedback: {feedback}"
    last = await client.last_assistant_message(session.id)
    assert last is not None
    assert (last.finish, last.error) == ("stop", None)


async def test_deny_rule_fails_the_call_without_asking(
    client: OpenCodeClient, events: RawEvents
) -> None:
    # Denying a pattern other than `*`: the tool stays offered, the call is refused.
    deny = PermissionRule(permission="bash", pattern="echo *", action=PermissionAction.DENY)
    session = await client.create_session(title="contract: deny", permission=[deny])
    result = await client.prompt(
        session.id, scripted("Run it.", reply="ran", tool=_bash("echo hi"))
    )

    assert result.text == "ran"
    [tool] = await _tool_parts(client, session.id)
    assert tool.state.status == "error"
    assert (tool.state.error or "").startswith(_DENIED)
    assert '"pattern":"echo *","action":"deny"' in (tool.state.error or "")
    assert not events.of("permission.asked", session.id)


async def test_the_last_matching_rule_wins(client: OpenCodeClient, events: RawEvents) -> None:
    rules = [
        PermissionRule(permission="bash", pattern="*", action=PermissionAction.DENY),
        PermissionRule(permission="bash", pattern="echo *", action=PermissionAction.ALLOW),
    ]
    session = await client.create_session(title="contract: last wins", permission=rules)
    await client.prompt(session.id, scripted("Run it.", reply="ran", tool=_bash("echo hi")))

    [tool] = await _tool_parts(client, session.id)
    assert (tool.state.status, tool.state.output) == ("completed", "hi\n")
    assert not events.of("permission.asked", session.id)


async def test_always_stops_asking_for_the_same_command(
    client: OpenCodeClient, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: always", permission=_ASK)
    # `always` approves "printf *" for the whole project, on both servers: other
    # tests of this module use `echo`, so they still get asked.
    first = scripted("Run it.", reply="ran", tool=_bash("printf 'one'"))
    await client.prompt_async(session.id, first)
    request_id = await _asked(client, events, session.id)
    assert await client.reply_permission(request_id, PermissionReply.ALWAYS) is True
    await events.wait_for("session.idle", session.id)

    # "printf *" is now allowed: the second call runs without a request.
    second = await client.prompt(
        session.id, scripted("Again.", reply="ran2", tool=_bash("printf two"))
    )
    assert second.text == "ran2"
    assert len(events.of("permission.asked", session.id)) == 1
    outputs = [t.state.output for t in await _tool_parts(client, session.id)]
    assert outputs == ["one", "two"]


async def test_abort_interrupts_the_tool_but_leaves_the_request_listed(
    client: OpenCodeClient, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: abort ask", permission=_ASK)
    await client.prompt_async(session.id, scripted("Run.", reply="ran", tool=_bash("echo hi")))
    request_id = await _asked(client, events, session.id)

    assert await client.abort(session.id) is True
    error = await events.wait_for("session.error", session.id)
    assert error["properties"]["error"]["name"] == "MessageAbortedError"
    # The part is closed after the idle event, just before the message gets its error.
    with anyio.fail_after(20):
        while not [
            e
            for e in events.of("message.updated", session.id)
            if e["properties"]["info"].get("error")
        ]:
            await events.changed.wait()
    [tool] = await _tool_parts(client, session.id)
    assert (tool.state.status, tool.state.error) == ("error", "Tool execution aborted")
    assert tool.state.metadata == {"interrupted": True}
    # OpenCode 1.18.33 does not withdraw the request of an aborted turn.
    assert request_id in [p.id for p in await client.list_permissions()]


async def test_bash_reports_merged_output_and_exit_code(client: OpenCodeClient) -> None:
    session = await client.create_session(title="contract: bash exit")
    command = "echo out; echo err >&2; exit 3"
    result = await client.prompt(session.id, scripted("Run it.", reply="ran", tool=_bash(command)))

    assert result.text == "ran"
    [tool] = await _tool_parts(client, session.id)
    assert tool.state.status == "completed"
    assert tool.state.output == "out\nerr\n"
    assert tool.state.title == command
    assert tool.state.metadata == {"output": "out\nerr\n", "exit": 3, "truncated": False}
