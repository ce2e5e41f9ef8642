"""A ``sim-server`` process killed with SIGKILL keeps what it stored, like a real server."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from opencode_orchestrator.opencode import AssistantMessage, OpenCodeClient
from opencode_orchestrator.opencode.models import SessionStatusEvent
from opencode_orchestrator.testing.script import ScriptDirective, render_directive

pytestmark = [pytest.mark.anyio, pytest.mark.subprocess]


@contextlib.asynccontextmanager
async def sim_process(
    state: Path, project: Path, port: int = 0
) -> AsyncIterator[tuple[Process, str]]:
    command = [
        sys.executable,
        *("-m", "opencode_orchestrator", "sim-server", "--state-dir", str(state)),
        *("--directory", str(project), "--port", str(port), "--seed", "5"),
    ]
    process = await anyio.open_process(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        with anyio.fail_after(20):
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stdout.receive(1)
        yield process, line.decode().strip()
    finally:
        if process.returncode is None:
            process.kill()
        await process.aclose()


async def test_sessions_and_transcripts_survive_a_sigkill(tmp_path: Path) -> None:
    state, project = tmp_path / "state", tmp_path / "project"
    project.mkdir()
    hang = "Hang.\n" + render_directive(ScriptDirective(delay=3600))
    async with sim_process(state, project) as (process, url):
        async with OpenCodeClient(url, directory=str(project)) as client:
            done = await client.create_session(title="answered before the kill")
            await client.prompt(done.id, "Hi.\n" + render_directive(ScriptDirective(reply="kept")))
            cut = await client.create_session(title="busy at the kill")
            async with client.events() as stream:
                with anyio.fail_after(20):
                    await stream.subscribed()
                await client.prompt_async(cut.id, hang)
                with anyio.fail_after(20):
                    async for event in stream:
                        if isinstance(event, SessionStatusEvent) and (
                            event.properties.session_id == cut.id
                        ):
                            break
            assert cut.id in await client.session_status()
        process.send_signal(signal.SIGKILL)
        with anyio.fail_after(10):
            assert await process.wait() == -signal.SIGKILL
        port = int(url.rsplit(":", 1)[1])

    async with sim_process(state, project, port) as (_, url_again):
        assert url_again == url
        async with OpenCodeClient(url, directory=str(project)) as client:
            assert (await client.get_session(done.id)).title == "answered before the kill"
            messages = await client.list_messages(done.id)
            assert [m.info.role for m in messages] == ["user", "assistant"]
            assert messages[-1].text == "kept"
            # The turn the kill cut is over, and says so, as after a real restart.
            assert cut.id not in await client.session_status()
            last = await client.last_assistant_message(cut.id)
            assert isinstance(last, AssistantMessage)
            assert last.error is not None
