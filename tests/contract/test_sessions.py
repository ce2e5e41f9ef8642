"""Session lifecycle, children, status and the error for an unknown session."""

from __future__ import annotations

import anyio
import pytest

from opencode_orchestrator.opencode import OpenCodeClient, OpenCodeNotFoundError
from opencode_orchestrator.opencode.models import SessionCreatedEvent
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


async def test_deleting_a_parent_deletes_its_children_not_new_ones(
    client: OpenCodeClient,
) -> None:
    # What the engine meets when a user deletes a mission's session in OpenCode.
    parent = await client.create_session(title="contract: deleted parent")
    child = await client.create_session(title="contract: its child", parent_id=parent.id)
    await client.delete_session(parent.id)
    with pytest.raises(OpenCodeNotFoundError):
        await client.prompt_async(child.id, "hello")
    # ... but a new child of the deleted session is made all the same.
    orphan = await client.create_session(title="contract: orphan", parent_id=parent.id)
    assert orphan.parent_id == parent.id


async def test_status_omits_idle_sessions(client: OpenCodeClient) -> None:
    session = await client.create_session(title="contract: status")
    status = await client.session_status()
    assert session.id not in status


async def test_global_stream_carries_project_events_with_their_directory(
    client: OpenCodeClient, server: ContractServer
) -> None:
    # Measured on the real server: /global/event can drop what happens in the
    # first moments after its server.connected (its subscription is set up
    # after that event; /event has no such gap). So sessions are created until
    # one is seen, each a half second after the last.
    created: set[str] = set()
    async with client.events(global_events=True) as stream, anyio.create_task_group() as tg:
        with anyio.fail_after(20):
            await stream.subscribed()

        async def keep_creating() -> None:
            while True:
                created.add((await client.create_session(title="contract: global")).id)
                await anyio.sleep(0.5)  # pacing of the retries, not a wait for a condition

        tg.start_soon(keep_creating)
        with anyio.fail_after(20):
            async for event in stream:
                if isinstance(event, SessionCreatedEvent) and event.properties.info.id in created:
                    break
        tg.cancel_scope.cancel()
    assert event.directory == str(server.directory)
    assert event.project
