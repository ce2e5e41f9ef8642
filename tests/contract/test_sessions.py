"""Session lifecycle, children, status and the error for an unknown session."""

from __future__ import annotations

import pytest

from opencode_orchestrator.opencode import OpenCodeClient, OpenCodeNotFoundError
from tests.contract.conftest import ContractServer

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]


async def test_health_reports_a_version(client: OpenCodeClient) -> None:
    health = await client.health()
    assert health.healthy is True
    assert health.version


async def test_session_lifecycle(client: OpenCodeClient, server: ContractServer) -> None:
    created = await client.create_session(title="contract: lifecycle")
    assert created.id.startswith("ses")
    assert created.title == "contract: lifecycle"
    assert created.directory == str(server.directory)
    assert created.parent_id is None

    fetched = await client.get_session(created.id)
    assert fetched.id == created.id
    assert created.id in {s.id for s in await client.list_sessions()}

    assert await client.delete_session(created.id) is True
    with pytest.raises(OpenCodeNotFoundError):
        await client.get_session(created.id)
    assert created.id not in {s.id for s in await client.list_sessions()}


async def test_child_sessions_are_listed_under_their_parent(client: OpenCodeClient) -> None:
    parent = await client.create_session(title="contract: parent")
    first = await client.create_session(title="contract: child 1", parent_id=parent.id)
    second = await client.create_session(title="contract: child 2", parent_id=parent.id)
    assert first.parent_id == parent.id

    children = await client.children(parent.id)
    assert {c.id for c in children} == {first.id, second.id}
    assert await client.children(first.id) == []


async def test_unknown_session_is_not_found_on_every_verb(client: OpenCodeClient) -> None:
    missing = "ses_0000000000000000000000000a"
    with pytest.raises(OpenCodeNotFoundError):
        await client.get_session(missing)
    with pytest.raises(OpenCodeNotFoundError):
        await client.delete_session(missing)
    with pytest.raises(OpenCodeNotFoundError):
        await client.prompt(missing, "hello")


async def test_status_omits_idle_sessions(client: OpenCodeClient) -> None:
    session = await client.create_session(title="contract: status")
    status = await client.session_status()
    assert session.id not in status
