"""OpenCodeClient: the lifecycle, and the exact paths and bodies each call sends."""

from __future__ import annotations

import httpx
import pytest

from opencode_orchestrator.opencode import (
    ClientState,
    ModelRef,
    OpenCodeAbortedError,
    OpenCodeClosedError,
    OpenCodeStateError,
    PermissionReply,
    PermissionRule,
    SessionModel,
    ToastVariant,
)
from opencode_orchestrator.opencode.models import PermissionAction
from tests.opencode.fakes import FakeOpenCode, assistant, body, session, text_part, user

pytestmark = pytest.mark.anyio


async def test_lifecycle_new_open_closed_and_no_reopening() -> None:
    fake = FakeOpenCode()
    fake.on_json("GET", "/global/health", {"healthy": True, "version": "1.18.33"})
    client = fake.client()

    def state() -> ClientState:  # a call, so mypy does not pin the first narrowing
        return client.state

    assert state() is ClientState.NEW
    with pytest.raises(OpenCodeStateError):
        await client.health()
    async with client:
        assert state() is ClientState.OPEN
        assert (await client.health()).version == "1.18.33"
    assert state() is ClientState.CLOSED
    with pytest.raises(OpenCodeClosedError):
        await client.health()
    with pytest.raises(OpenCodeClosedError):
        await client.__aenter__()
    await client.aclose()  # idempotent
    assert len(fake.requests) == 1


async def test_create_session_sends_opencode_field_names() -> None:
    fake = FakeOpenCode()
    fake.on_json("POST", "/session", session("ses_child", parentID="ses_parent"))
    async with fake.client() as client:
        created = await client.create_session(
            parent_id="ses_parent",
            title="worker",
            agent="build",
            model=SessionModel(id="fake-model", provider_id="fake"),
            permission=[
                PermissionRule(permission="bash", pattern="*", action=PermissionAction.DENY)
            ],
        )
    assert created.parent_id == "ses_parent"
    assert body(fake.requests[0]) == {
        "parentID": "ses_parent",
        "title": "worker",
        "agent": "build",
        "model": {"id": "fake-model", "providerID": "fake"},
        "permission": [{"permission": "bash", "pattern": "*", "action": "deny"}],
    }


async def test_session_reads_and_delete() -> None:
    fake = FakeOpenCode()
    fake.on_json("GET", "/session/ses_1", session())
    fake.on_json("GET", "/session/ses_1/children", [session("ses_2", parentID="ses_1")])
    fake.on_json("DELETE", "/session/ses_1", True)
    fake.on_json(
        "GET",
        "/session/status",
        {
            "ses_2": {"type": "busy"},
            "ses_3": {"type": "retry", "attempt": 2, "message": "rate", "next": 5},
        },
    )
    fake.on_json(
        "GET", "/session/ses_1/todo", [{"content": "x", "status": "pending", "priority": "high"}]
    )
    fake.on_json(
        "GET",
        "/session/ses_1/diff",
        [{"file": "a.py", "additions": 1, "deletions": 0, "status": "modified"}],
    )
    async with fake.client() as client:
        assert (await client.get_session("ses_1")).title == "t"
        assert [s.id for s in await client.children("ses_1")] == ["ses_2"]
        statuses = await client.session_status()
        assert statuses["ses_3"].attempt == 2
        assert all(s.is_active for s in statuses.values())
        assert (await client.todos("ses_1"))[0].priority == "high"
        assert (await client.diff("ses_1", message_id="msg_9"))[0].file == "a.py"
        assert await client.delete_session("ses_1") is True
    assert fake.calls("GET", "/session/ses_1/diff")[0].url.params["messageID"] == "msg_9"


async def test_blocking_prompt_body_and_result() -> None:
    fake = FakeOpenCode()
    aborted = {"name": "MessageAbortedError", "data": {"message": "aborted"}}
    fake.on_json(
        "POST",
        "/session/ses_1/message",
        {"info": assistant(error=aborted), "parts": [text_part("partial")]},
    )
    async with fake.client() as client:
        result = await client.prompt(
            "ses_1",
            "do it",
            agent="build",
            model=ModelRef(provider_id="fake", model_id="fake-model"),
            system="be brief",
            tools={"bash": False},
            no_reply=False,
        )
    assert body(fake.requests[0]) == {
        "parts": [{"type": "text", "text": "do it"}],
        "agent": "build",
        "system": "be brief",
        "noReply": False,
        "model": {"providerID": "fake", "modelID": "fake-model"},
        "tools": {"bash": False},
    }
    assert result.text == "partial"
    assert result.assistant is not None
    assert result.assistant.cost == 0.25
    with pytest.raises(OpenCodeAbortedError) as caught:
        result.raise_for_error()
    assert caught.value.message_id == "msg_2"


async def test_prompt_async_accepts_204_and_messages_read_back() -> None:
    fake = FakeOpenCode()
    fake.on("POST", "/session/ses_1/prompt_async", httpx.Response(204))
    fake.on_json(
        "GET",
        "/session/ses_1/message",
        [{"info": user(), "parts": []}, {"info": assistant(), "parts": []}],
    )
    fake.on_json("GET", "/session/ses_1/message/msg_2", {"info": assistant(), "parts": []})
    async with fake.client() as client:
        await client.prompt_async("ses_1", [{"type": "text", "text": "a", "synthetic": True}])
        messages = await client.list_messages("ses_1", limit=5)
        one = await client.get_message("ses_1", "msg_2")
        last = await client.last_assistant_message("ses_1")
    assert body(fake.requests[0]) == {"parts": [{"type": "text", "text": "a", "synthetic": True}]}
    assert len(messages) == 2
    assert fake.requests[1].url.params["limit"] == "5"
    assert one.assistant is not None
    assert last is not None
    assert last.id == "msg_2"


async def test_abort_summarize_shell_and_command() -> None:
    fake = FakeOpenCode()
    fake.on_json("POST", "/session/ses_1/abort", True)
    fake.on_json("POST", "/session/ses_1/summarize", True)
    fake.on_json("POST", "/session/ses_1/shell", {"info": assistant(), "parts": []})
    fake.on_json("POST", "/session/ses_1/command", {"info": assistant(), "parts": []})
    async with fake.client() as client:
        assert await client.abort("ses_1")
        assert await client.summarize("ses_1", provider_id="fake", model_id="m")
        await client.shell("ses_1", "ls", agent="build")
        await client.command("ses_1", "review", "src/", agent="plan")
    sent = {r.url.path: (body(r) if r.content else None) for r in fake.requests}
    assert sent == {
        "/session/ses_1/abort": None,
        "/session/ses_1/summarize": {"providerID": "fake", "modelID": "m"},
        "/session/ses_1/shell": {"agent": "build", "command": "ls"},
        "/session/ses_1/command": {"command": "review", "arguments": "src/", "agent": "plan"},
    }


async def test_permissions_toast_and_worktrees() -> None:
    fake = FakeOpenCode()
    request = {
        "id": "per_1",
        "sessionID": "ses_1",
        "permission": "bash",
        "patterns": ["rm *"],
        "metadata": {},
        "always": ["rm *"],
    }
    fake.on_json("GET", "/permission", [request])
    fake.on_json("POST", "/permission/per_1/reply", True)
    fake.on_json("POST", "/tui/show-toast", True)
    fake.on_json("GET", "/experimental/worktree", ["/p/wt1"])
    fake.on_json(
        "POST", "/experimental/worktree", {"name": "wt2", "directory": "/p/wt2", "branch": "wt2"}
    )
    fake.on_json("DELETE", "/experimental/worktree", True)
    async with fake.client() as client:
        [pending] = await client.list_permissions()
        assert pending.patterns == ["rm *"]
        assert await client.reply_permission("per_1", PermissionReply.REJECT, message="no")
        assert await client.show_toast("hi", variant=ToastVariant.WARNING, duration_ms=500)
        assert await client.list_worktrees() == ["/p/wt1"]
        assert (await client.create_worktree(name="wt2")).directory == "/p/wt2"
        assert await client.remove_worktree("/p/wt2")
    bodies = [body(r) for r in fake.requests if r.content]
    assert bodies == [
        {"reply": "reject", "message": "no"},
        {"message": "hi", "variant": "warning", "duration": 500},
        {"name": "wt2"},
        {"directory": "/p/wt2"},
    ]
