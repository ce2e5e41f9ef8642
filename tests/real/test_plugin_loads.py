"""The plugin shim (``plugin-shim/src/index.ts``) inside a real ``opencode serve`` 1.18.33.

OpenCode loads the TypeScript file with its embedded Bun, straight from the
checkout (the shim has no run-time dependencies, so no build and no
``node_modules``). The shim spawns a fake core, ``plugin-shim/test/fixtures/
fake-core.mjs`` run by ``node`` (which ``./dev`` needs anyway for npm), that
records every JSON-RPC message it receives. The tests check what the unit tests
of the shim cannot: that OpenCode accepts the plugin, registers its commands
and the core's agents, and that a handled command ends without a model turn.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from opencode_orchestrator.testing.fake_llm import FakeLLM
from opencode_orchestrator.testing.real_opencode import (
    OPENCODE_ENV,
    find_binary,
    free_port,
    project_config,
    stop_process,
)
from opencode_orchestrator.testing.script import ScriptDirective, ScriptedTool, render_directive

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugin-shim" / "src" / "index.ts"
FAKE_CORE = REPO / "plugin-shim" / "test" / "fixtures" / "fake-core.mjs"
COMMANDS = {"extreme-mission", "mission-status", "mission-cancel", "mission-resume"}
AGENTS = {"planner", "worker", "reviewer", "master-reviewer"}
# Every OpenCode start installs its plugin package into the config directory when a
# plugin is configured (~5 s with the registry, a long stall without). It skips a
# directory whose lock file already lists it and whose node_modules/ exists; the shim
# imports only types from that package, so an empty node_modules/ is enough.
PLUGIN_PACKAGE = {"dependencies": {"@opencode-ai/plugin": "1.18.33"}}
PLUGIN_LOCK = {"lockfileVersion": 3, "packages": {"": PLUGIN_PACKAGE}}


@dataclass
class ShimServer:
    """A running ``opencode serve`` with the shim configured."""

    base_url: str
    directory: Path
    record: Path
    shim_log: Path
    llm: FakeLLM

    def messages(self) -> list[dict[str, Any]]:
        """What the fake core received so far, in order."""
        if not self.record.exists():
            return []
        lines = self.record.read_bytes().splitlines()
        return [orjson.loads(line) for line in lines if line.strip()]

    def core_pids(self) -> list[int]:
        """The fake cores started so far (each logs its pid to stderr, which the shim logs)."""
        pids = []
        for line in self.shim_log.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                record = orjson.loads(line)
                if record.get("event") == "fake core started":
                    pids.append(int(record["pid"]))
        return pids


def _prepare(root: Path, llm: FakeLLM) -> tuple[Path, Path, Path, dict[str, str]]:
    project = root / "project"
    project.mkdir()
    record = root / "core-messages.jsonl"
    shim_log = root / "shim.log"
    node = shutil.which("node")
    assert node is not None, "node is needed to run the fake core (and npm, which ./dev uses)"
    config = project_config(llm.base_url)
    core = [node, str(FAKE_CORE), "--record", str(record), "--progress"]
    config["plugin"] = [[str(PLUGIN), {"command": core, "logFile": str(shim_log)}]]
    (project / "opencode.json").write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run(
        [*git, "commit", "-q", "--allow-empty", "-m", "initial"], cwd=project, check=True
    )
    env = {**os.environ, **OPENCODE_ENV}
    env.pop("OPENCODE_SERVER_PASSWORD", None)
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        path = root / name.lower()
        path.mkdir()
        env[f"XDG_{name}_HOME"] = str(path)
    config_dir = root / "config" / "opencode"
    (config_dir / "node_modules").mkdir(parents=True)
    (config_dir / "package.json").write_bytes(orjson.dumps(PLUGIN_PACKAGE))
    (config_dir / "package-lock.json").write_bytes(orjson.dumps(PLUGIN_LOCK))
    return project, record, shim_log, env


@pytest.fixture(scope="module")
async def shim_server(
    fake_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ShimServer]:
    root = tmp_path_factory.mktemp("shim")
    project, record, shim_log, env = await anyio.to_thread.run_sync(_prepare, root, fake_llm)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [str(find_binary()), "serve", "--hostname", "127.0.0.1", "--port", str(port)]
    with (root / "opencode.log").open("ab") as log:
        process = await anyio.open_process(
            command, cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            with anyio.fail_after(30):
                while True:
                    assert process.returncode is None, (root / "opencode.log").read_text()
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{base_url}/global/health")).status_code == 200:
                            break
                    await anyio.sleep(0.1)
        yield ShimServer(base_url, project, record, shim_log, fake_llm)
    finally:
        with anyio.CancelScope(shield=True):
            await stop_process(process, 5)


@pytest.fixture
async def client(shim_server: ShimServer) -> AsyncIterator[httpx.AsyncClient]:
    params = {"directory": str(shim_server.directory)}
    async with httpx.AsyncClient(base_url=shim_server.base_url, params=params, timeout=30) as http:
        yield http


async def _session(client: httpx.AsyncClient) -> str:
    response = await client.post("/session", json={})
    assert response.status_code == 200, response.text
    session_id: str = response.json()["id"]
    return session_id


async def _wait(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.05)


async def test_commands_are_registered(client: httpx.AsyncClient) -> None:
    response = await client.get("/command")
    assert response.status_code == 200
    commands = {command["name"]: command for command in response.json()}
    assert set(commands) >= COMMANDS
    assert "mission" in commands["extreme-mission"]["description"].lower()


async def test_the_core_was_initialized_with_opencode_url_and_directory(
    client: httpx.AsyncClient, shim_server: ShimServer
) -> None:
    await client.get("/command")  # the instance (and so the plugin) exists
    await _wait(lambda: len(shim_server.messages()) >= 2, "initialize and initialized")
    initialize, initialized = shim_server.messages()[:2]
    assert initialize["method"] == "initialize"
    assert initialize["params"]["serverUrl"] == shim_server.base_url
    assert initialize["params"]["directory"] == str(shim_server.directory)
    assert "password" not in initialize["params"]
    assert initialized == {"jsonrpc": "2.0", "method": "initialized"}


async def test_the_core_agents_are_registered(client: httpx.AsyncClient) -> None:
    response = await client.get("/agent")
    assert response.status_code == 200
    agents = {agent["name"]: agent for agent in response.json()}
    assert set(agents) >= AGENTS
    assert agents["worker"]["mode"] == "subagent"
    assert agents["worker"]["prompt"] == "You work."


async def test_extreme_mission_confirms_in_the_session_without_a_model_turn(
    client: httpx.AsyncClient, shim_server: ShimServer
) -> None:
    session_id = await _session(client)
    llm_calls = len(shim_server.llm.requests)
    response = await client.post(
        f"/session/{session_id}/command",
        json={"command": "extreme-mission", "arguments": "build the thing"},
    )
    # Measured behaviour of 1.18.33: the hook's throw is what stops the command before
    # its prompt, and OpenCode answers the request with its generic error.
    assert response.status_code == 500
    assert response.json()["name"] == "UnknownError"
    starts = [m for m in shim_server.messages() if m.get("method") == "mission/start"]
    assert starts[-1]["params"] == {"goal": "build the thing", "parentSessionId": session_id}
    messages = (await client.get(f"/session/{session_id}/message")).json()
    assert [m["info"]["role"] for m in messages] == ["user"]
    texts = [part["text"] for part in messages[0]["parts"] if part["type"] == "text"]
    assert texts[0].startswith("Mission m-fake-1 started: build the thing\n")
    assert len(shim_server.llm.requests) == llm_calls


async def test_a_core_error_is_shown_as_text(
    client: httpx.AsyncClient, shim_server: ShimServer
) -> None:
    session_id = await _session(client)
    llm_calls = len(shim_server.llm.requests)
    await client.post(
        f"/session/{session_id}/command", json={"command": "mission-cancel", "arguments": ""}
    )
    messages = (await client.get(f"/session/{session_id}/message")).json()
    texts = [part["text"] for m in messages for part in m["parts"] if part["type"] == "text"]
    assert texts == ["⚠ /mission-cancel failed: No mission is running in this project"]
    assert len(shim_server.llm.requests) == llm_calls


async def test_a_write_outside_the_scope_is_refused_and_the_model_reads_why(
    client: httpx.AsyncClient, shim_server: ShimServer
) -> None:
    session_id = await _session(client)
    tool = ScriptedTool(name="write", args={"filePath": "forbidden.txt", "content": "x"})
    prompt = f"Write it.\n{render_directive(ScriptDirective(tool=tool, reply='done'))}"
    response = await client.post(
        f"/session/{session_id}/message", json={"parts": [{"type": "text", "text": prompt}]}
    )
    assert response.status_code == 200
    tool_results = [
        message["content"]
        for request in shim_server.llm.chat_requests
        for message in request["messages"]
        if message.get("role") == "tool"
    ]
    assert any(str(content).startswith("FAKE-SCOPE: forbidden.txt") for content in tool_results)
    assert not (shim_server.directory / "forbidden.txt").exists()
    checks = [m for m in shim_server.messages() if m.get("method") == "scope/check"]
    assert checks[-1]["params"] == {
        "sessionId": session_id,
        "tool": "write",
        "paths": ["forbidden.txt"],
    }


async def test_disposing_the_instance_stops_the_core(
    client: httpx.AsyncClient, shim_server: ShimServer
) -> None:
    # Last in this module: the next request starts a new instance, with a new core.
    await client.get("/command")
    pids = shim_server.core_pids()
    assert pids
    response = await client.post("/instance/dispose")
    assert response.status_code == 200
    await _wait(
        lambda: [m.get("method") for m in shim_server.messages()][-2:] == ["shutdown", "exit"],
        "shutdown and exit",
    )
    await _wait(lambda: not _alive(pids[-1]), "the core process to exit")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
