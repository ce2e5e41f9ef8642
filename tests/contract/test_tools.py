"""What an agent's tools do to the project and the transcript, and the small endpoints."""

from __future__ import annotations

import pytest

from opencode_orchestrator.opencode import (
    OpenCodeBadRequestError,
    OpenCodeClient,
    PermissionReply,
    PermissionRule,
)
from opencode_orchestrator.opencode.models import PermissionAction, ToolPart
from tests.contract.conftest import ContractServer, RawEvents
from tests.contract.test_prompts import Answer, scripted

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]


async def test_write_tool_creates_the_file_and_reports_the_edit(
    client: OpenCodeClient, server: ContractServer, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: write")
    target = server.directory / "notes" / "hello.txt"
    tool = {"name": "write", "args": {"filePath": str(target), "content": "hello\n"}}
    result = await client.prompt(session.id, scripted("Write it.", reply="written", tool=tool))

    assert result.text == "written"
    assert target.read_text() == "hello\n"
    edited = await events.wait_for("file.edited")
    assert edited["properties"]["file"] == str(target)

    messages = await client.list_messages(session.id)
    tools = [p for m in messages for p in m.parts if isinstance(p, ToolPart)]
    assert [t.tool for t in tools] == ["write"]
    assert tools[0].state.status == "completed"
    statuses = [
        e["properties"]["part"]["state"]["status"]
        for e in events.of("message.part.updated", session.id)
        if e["properties"]["part"]["type"] == "tool"
    ]
    assert statuses == ["pending", "running", "completed"]


async def test_todos_written_by_the_agent_are_listed(
    client: OpenCodeClient, events: RawEvents
) -> None:
    session = await client.create_session(title="contract: todo")
    todos = [
        {"content": "step one", "status": "pending", "priority": "high"},
        {"content": "step two", "status": "in_progress", "priority": "low"},
    ]
    tool = {"name": "todowrite", "args": {"todos": todos}}
    await client.prompt(session.id, scripted("Plan.", tool=tool))

    listed = await client.todos(session.id)
    assert [(t.content, t.status, t.priority) for t in listed] == [
        ("step one", "pending", "high"),
        ("step two", "in_progress", "low"),
    ]
    updated = await events.wait_for("todo.updated", session.id)
    assert updated["properties"]["todos"] == todos


async def test_shell_runs_a_command_in_the_session(client: OpenCodeClient) -> None:
    session = await client.create_session(title="contract: shell")
    result = await client.shell(session.id, "echo shell-out", agent="build")
    tools = [p for p in result.parts if isinstance(p, ToolPart)]
    assert [t.tool for t in tools] == ["bash"]
    assert tools[0].state.status == "completed"
    assert "shell-out" in str(tools[0].state.output)


async def test_permission_asked_is_listed_and_answered(
    client: OpenCodeClient, events: RawEvents
) -> None:
    rule = PermissionRule(permission="bash", pattern="*", action=PermissionAction.ASK)
    session = await client.create_session(title="contract: permission", permission=[rule])
    tool = {"name": "bash", "args": {"command": "echo hi", "description": "say hi"}}
    await client.prompt_async(session.id, scripted("Run it.", reply="ran", tool=tool))

    asked = await events.wait_for("permission.asked", session.id)
    pending = [p for p in await client.list_permissions() if p.session_id == session.id]
    assert [p.id for p in pending] == [asked["properties"]["id"]]
    assert pending[0].permission == "bash"

    assert await client.reply_permission(pending[0].id, PermissionReply.ONCE) is True
    await events.wait_for("session.idle", session.id)
    assert not [p for p in await client.list_permissions() if p.session_id == session.id]
    last = await client.last_assistant_message(session.id)
    assert last is not None
    assert last.error is None


async def test_summarize_compacts_the_session(client: OpenCodeClient, events: RawEvents) -> None:
    session = await client.create_session(title="contract: summarize")
    await client.prompt(session.id, scripted("Hello.", reply="hi"))
    assert await client.summarize(session.id, provider_id="fake", model_id="fake-model") is True
    await events.wait_for("session.compacted", session.id)


async def test_toast_and_worktree_list_answer(client: OpenCodeClient) -> None:
    assert await client.show_toast("contract: hello") is True
    assert isinstance(await client.list_worktrees(), list)


async def test_diff_of_a_fresh_session_is_empty(client: OpenCodeClient) -> None:
    session = await client.create_session(title="contract: diff")
    assert await client.diff(session.id) == []


async def test_message_list_fails_once_a_structured_prompt_is_stored(
    client: OpenCodeClient,
) -> None:
    # A bug of OpenCode 1.18.33, kept in the simulator so the engine is built
    # to survive it: read structured answers from the prompt result or events.
    session = await client.create_session(title="contract: format bug")
    structured = {"answer": "x", "score": 1}
    result = await client.prompt_structured(
        session.id, scripted("Answer.", structured=structured), Answer
    )
    assert result.value == Answer(answer="x", score=1)
    with pytest.raises(OpenCodeBadRequestError):
        await client.list_messages(session.id)


async def test_the_newest_message_of_a_structured_session_can_be_listed(
    client: OpenCodeClient,
) -> None:
    session = await client.create_session(title="contract: format bug, newest")
    structured = {"answer": "y", "score": 2}
    result = await client.prompt_structured(
        session.id, scripted("Answer.", structured=structured), Answer
    )
    # The refusal comes from encoding the stored prompt, so a window of the newest
    # messages that leaves it out is answered: a turn's answer can be read back
    # without knowing its id.
    newest = await client.list_messages(session.id, limit=1)
    assert [m.info.id for m in newest] == [result.message.id]
    with pytest.raises(OpenCodeBadRequestError):
        await client.list_messages(session.id, limit=2)
