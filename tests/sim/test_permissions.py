"""Permission rules as OpenCode evaluates them, and the broker's pending requests."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from opencode_orchestrator.sim.engine.permissions import (
    PermissionBroker,
    PermissionDeniedError,
    PermissionRejectedError,
    evaluate,
    tool_disabled,
    wildcard_match,
)

pytestmark = pytest.mark.anyio


def _rule(permission: str, pattern: str, action: str) -> dict[str, Any]:
    return {"permission": permission, "pattern": pattern, "action": action}


@pytest.mark.parametrize(
    ("value", "pattern", "matches"),
    [
        ("echo hi", "*", True),
        ("echo hi", "echo *", True),
        ("echo", "echo *", True),  # a trailing " *" may match nothing
        ("echoes", "echo *", False),
        ("git status", "git st?tus", True),
        ("a.b", "a.b", True),
        ("axb", "a.b", False),  # regex characters are literal
        ("src/x.py", "src/*", True),
        ("line1\nline2", "line1*", True),  # `*` spans newlines
        ("src\\x.py", "src/*", True),  # backslashes count as slashes
        ("ls -la", "ls", False),
    ],
)
def test_wildcard_match(value: str, pattern: str, *, matches: bool) -> None:
    assert wildcard_match(value, pattern) is matches


def test_the_last_matching_rule_wins_across_rulesets() -> None:
    agent = [_rule("*", "*", "allow")]
    session = [_rule("bash", "*", "deny"), _rule("bash", "echo *", "ask")]
    assert evaluate("bash", "echo hi", agent, session)["action"] == "ask"
    assert evaluate("bash", "rm -rf x", agent, session)["action"] == "deny"
    assert evaluate("edit", "a.py", agent, session)["action"] == "allow"


def test_no_matching_rule_means_ask() -> None:
    assert evaluate("bash", "ls", [_rule("edit", "*", "allow")]) == {
        "action": "ask",
        "permission": "bash",
        "pattern": "*",
    }


def test_a_tool_is_withheld_only_when_its_last_rule_denies_everything() -> None:
    assert tool_disabled("bash", [_rule("*", "*", "allow"), _rule("bash", "*", "deny")])
    assert not tool_disabled("bash", [_rule("bash", "echo *", "deny")])
    assert not tool_disabled("bash", [_rule("bash", "*", "deny"), _rule("bash", "ls", "allow")])


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = anyio.Event()

    def __call__(self, _directory: str, kind: str, properties: dict[str, Any]) -> None:
        self.events.append((kind, properties))
        self.changed.set()
        self.changed = anyio.Event()

    async def asked(self, count: int = 1) -> list[dict[str, Any]]:
        with anyio.fail_after(5):
            while len(found := [p for k, p in self.events if k == "permission.asked"]) < count:
                await self.changed.wait()
        return found


def _request(command: str, session: str = "ses_1") -> dict[str, Any]:
    first = command.split(maxsplit=1)[0]
    return {
        "sessionID": session,
        "permission": "bash",
        "patterns": [command],
        "metadata": {"command": command},
        "always": [f"{first} *"],
        "tool": {"messageID": "msg_1", "callID": "call_1"},
    }


_ASK = [_rule("bash", "*", "ask")]


async def test_allowed_and_denied_calls_never_wait() -> None:
    emit = _Recorder()
    broker = PermissionBroker(emit)
    await broker.ask("/p", [_rule("bash", "*", "allow")], _request("ls"))
    with pytest.raises(PermissionDeniedError, match='"action":"deny"'):
        await broker.ask("/p", [_rule("bash", "ls*", "deny")], _request("ls"))
    assert emit.events == []


async def test_reject_with_and_without_feedback() -> None:
    emit = _Recorder()
    broker = PermissionBroker(emit)
    outcomes: list[PermissionRejectedError] = []

    async def ask() -> None:
        with pytest.raises(PermissionRejectedError) as caught:
            await broker.ask("/p", _ASK, _request("ls"))
        outcomes.append(caught.value)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        [first] = await emit.asked()
        assert broker.listed("/p") == [first]
        assert broker.listed("/elsewhere") == []
        assert broker.reply(first["id"], "reject")
        tg.start_soon(ask)
        second = (await emit.asked(2))[1]
        assert broker.reply(second["id"], "reject", "use cat")
    assert [(str(o), o.stops_turn) for o in outcomes] == [
        ("The user rejected permission to use this specific tool call.", True),
        (
            "The user rejected permission to use this specific tool call with the following "
            "feedback: use cat",
            False,
        ),
    ]
    assert not broker.reply(first["id"], "once")
    assert broker.listed("/p") == []


async def test_always_approves_the_family_for_the_whole_project() -> None:
    emit = _Recorder()
    broker = PermissionBroker(emit)
    async with anyio.create_task_group() as tg:
        tg.start_soon(broker.ask, "/p", _ASK, _request("git status"))
        [asked] = await emit.asked()
        assert broker.reply(asked["id"], "always")
    # Another session of the same project: "git *" is approved, nothing is asked.
    with anyio.fail_after(5):
        await broker.ask("/p", _ASK, _request("git log", session="ses_2"))
    assert [k for k, _ in emit.events] == ["permission.asked", "permission.replied"]


async def test_reject_also_rejects_the_sessions_other_requests() -> None:
    emit = _Recorder()
    broker = PermissionBroker(emit)
    rejected: list[str] = []

    async def ask(command: str) -> None:
        try:
            await broker.ask("/p", _ASK, _request(command))
        except PermissionRejectedError:
            rejected.append(command)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, "ls")
        tg.start_soon(ask, "pwd")
        first, _ = await emit.asked(2)
        assert broker.reply(first["id"], "reject")
    assert sorted(rejected) == ["ls", "pwd"]
    replies = [p["reply"] for k, p in emit.events if k == "permission.replied"]
    assert replies == ["reject", "reject"]
