from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from opencode_orchestrator.sim import SimServer
from tests.sim.helpers import events, scripted

pytestmark = pytest.mark.anyio


async def test_restart_keeps_sessions_and_transcripts(
    sim: SimServer, client: httpx.AsyncClient
) -> None:
    port = sim.port
    sid = (await client.post("/session", json={"title": "kept"})).json()["id"]
    await client.post(
        f"/session/{sid}/message",
        json=scripted(
            tool={
                "name": "todowrite",
                "args": {"todos": [{"content": "a", "status": "pending", "priority": "high"}]},
            }
        ),
    )
    before = (await client.get(f"/session/{sid}/message")).json()
    await sim.restart()
    assert sim.port == port
    assert (await client.get(f"/session/{sid}")).json()["title"] == "kept"
    assert (await client.get(f"/session/{sid}/message")).json() == before
    assert (await client.get(f"/session/{sid}/todo")).json()[0]["content"] == "a"


async def test_a_turn_cut_by_restart_is_not_busy_after(
    sim: SimServer, client: httpx.AsyncClient
) -> None:
    sid = (await client.post("/session", json={})).json()["id"]
    async with events(client) as log:
        await client.post(f"/session/{sid}/prompt_async", json=scripted(delay=60))
        await log.wait_for(
            lambda e: (
                e["type"] == "message.updated" and e["properties"]["info"]["role"] == "assistant"
            )
        )
        await sim.restart()
        with anyio.fail_after(5):
            await log.ended.wait()
    assert (await client.get("/session/status")).json() == {}
    last = (await client.get(f"/session/{sid}/message")).json()[-1]["info"]
    assert "completed" in last["time"]
    assert last["error"]["name"] == "UnknownError"
    again = await client.post(f"/session/{sid}/message", json=scripted(reply="back"))
    assert again.json()["parts"][1]["text"] == "back"


@pytest.mark.subprocess
async def test_cli_serves_and_exits_on_sigterm(tmp_path: Path) -> None:
    process = await anyio.open_process(
        [
            sys.executable,
            "-m",
            "opencode_orchestrator",
            "sim-server",
            "--state-dir",
            str(tmp_path),
            "--seed",
            "3",
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        with anyio.fail_after(20):
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stdout.receive(1)
        url = line.decode().strip()
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/global/health")).json()["healthy"] is True
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
        await process.aclose()


@pytest.mark.subprocess
def test_cli_refuses_a_public_host(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "opencode_orchestrator",
            "sim-server",
            "--state-dir",
            str(tmp_path),
            "--host",
            "0.0.0.0",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"sim.bind" in result.stderr
