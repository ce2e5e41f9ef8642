"""The server restarts under a live event stream: state survives, the client catches up.

This module has its server to itself (servers are module-scoped), since it
restarts it.
"""

from __future__ import annotations

import anyio
import pytest

from opencode_orchestrator.opencode import (
    OpenCodeClient,
    RetryPolicy,
    StreamReconnected,
    json_schema_format,
)
from opencode_orchestrator.opencode.models import (
    SessionIdleEvent,
    SessionStatusEvent,
)
from tests.contract.conftest import ContractServer
from tests.contract.test_prompts import Answer, scripted

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]

RECONNECT = RetryPolicy(max_attempts=1, base_delay=0.1, max_delay=0.5)


async def test_stream_reconnects_and_resyncs_a_turn_lost_in_a_restart(
    client: OpenCodeClient, server: ContractServer
) -> None:
    done = await client.create_session(title="contract: before restart")
    await client.prompt(done.id, scripted("Remember me.", reply="remembered"))
    lost = await client.create_session(title="contract: lost turn")
    # A structured prompt makes the real server's message list answer 400; the
    # resync must still report the lost turn.
    lost_structured = await client.create_session(title="contract: lost structured turn")

    async with client.events(idle_timeout=15, reconnect=RECONNECT) as stream:
        with anyio.fail_after(20):
            await stream.subscribed()
        await client.prompt_async(lost.id, scripted("Hang.", delay=120))
        await client.prompt_async(
            lost_structured.id,
            scripted("Hang.", delay=120),
            output_format=json_schema_format(Answer),
        )
        busy: set[str] = set()
        with anyio.fail_after(30):
            async for event in stream:
                if isinstance(event, SessionStatusEvent) and event.properties.status.type == "busy":
                    busy.add(event.properties.session_id)
                if {lost.id, lost_structured.id} <= busy:
                    break

        await server.restart()

        reconnected: StreamReconnected | None = None
        idle: set[str] = set()
        with anyio.fail_after(60):
            async for event in stream:
                if isinstance(event, StreamReconnected):
                    reconnected = event
                elif isinstance(event, SessionIdleEvent):
                    # The turns died with the server; only the resync can say so.
                    assert event.synthetic is True
                    assert reconnected is not None, "resync before the reconnect marker"
                    idle.add(event.properties.session_id)
                    if {lost.id, lost_structured.id} <= idle:
                        break
        assert reconnected is not None
        assert reconnected.properties.attempts >= 1

    # Sessions and transcripts outlived the restart, and the old session still works.
    again = await client.get_session(done.id)
    assert again.title == "contract: before restart"
    messages = await client.list_messages(done.id)
    assert messages[-1].text == "remembered"
    result = await client.prompt(done.id, scripted("Still there?", reply="yes"))
    assert result.text == "yes"
    assert lost.id not in await client.session_status()
