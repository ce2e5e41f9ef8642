"""The shim's loopback proxy to OpenCode, inside a real OpenCode 1.18.33.

In the TUI started without ``--port`` OpenCode does not listen: the plugin's
``serverUrl`` is a placeholder and its client calls the server in process. The
shim then gives the core a proxy of its own (``plugin-shim/src/proxy.ts``). The
fake core (``plugin-shim/test/fixtures/fake-core.mjs --probe-server``) uses the
URL and password it is given as the real core would: an SSE subscription to
``/event``, ``GET /global/health``, ``GET /session``, ``POST /session`` (whose
``session.created`` must then arrive on the stream), and one request without
the password; it writes what it saw to a file these tests read.

- under ``opencode serve`` with ``serverAccess: "proxy"``: the proxy reaches the
  real server through the client's own fetch over HTTP;
- in the TUI without ``--port`` (a pseudo-terminal) with the default
  ``serverAccess: "auto"``: the proxy reaches the in-process server;
- the proxy's unit tests under OpenCode's own Bun (``BUN_BE_BUN=1``), the
  runtime that runs the plugin.
"""

from __future__ import annotations

import contextlib
import os
import pty
import shutil
import signal
import socket
import struct
import subprocess
import threading
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

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode]

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / "plugin-shim"
PLUGIN = SHIM / "src" / "index.ts"
FAKE_CORE = SHIM / "test" / "fixtures" / "fake-core.mjs"
# See test_plugin_loads.py: a config directory that already lists the plugin
# package spares every start an npm install.
PLUGIN_PACKAGE = {"dependencies": {"@opencode-ai/plugin": "1.18.33"}}
PLUGIN_LOCK = {"lockfileVersion": 3, "packages": {"": PLUGIN_PACKAGE}}
PLACEHOLDER = "http://localhost:4096"


@dataclass
class Setup:
    """A project whose ``opencode.json`` runs the shim with the probing fake core."""

    project: Path
    record: Path
    report: Path
    shim_log: Path
    env: dict[str, str]
    root: Path

    def messages(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [orjson.loads(line) for line in self.record.read_bytes().splitlines() if line]

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.shim_log.read_bytes().splitlines() if self.shim_log.exists() else []:
            with contextlib.suppress(orjson.JSONDecodeError):
                records.append(orjson.loads(line))
        return records

    def access(self) -> dict[str, Any]:
        """The shim's log line saying which server access it chose."""
        chosen = [
            r for r in self.log_records() if str(r.get("message")).startswith("server access")
        ]
        assert len(chosen) == 1, self.shim_log.read_text()
        return chosen[0]

    async def seen(self, timeout: float = 45) -> dict[str, Any]:
        """What the fake core saw through the URL and password it was given."""
        with anyio.fail_after(timeout):
            while not self.report.exists():
                await anyio.sleep(0.1)
        report: dict[str, Any] = orjson.loads(self.report.read_bytes())
        return report


def _prepare(root: Path, llm: FakeLLM, options: dict[str, Any]) -> Setup:
    project = root / "project"
    project.mkdir()
    record, report, shim_log = root / "core.jsonl", root / "report.json", root / "shim.log"
    node = shutil.which("node")
    assert node is not None, "node is needed to run the fake core (and npm, which ./dev uses)"
    core = [node, str(FAKE_CORE), "--record", str(record), "--probe-server", str(report)]
    config = project_config(llm.base_url)
    config["plugin"] = [[str(PLUGIN), {"command": core, "logFile": str(shim_log), **options}]]
    (project / "opencode.json").write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], cwd=project, check=True)
    env = {**os.environ, **OPENCODE_ENV}
    env.pop("OPENCODE_SERVER_PASSWORD", None)
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        (root / name.lower()).mkdir()
        env[f"XDG_{name}_HOME"] = str(root / name.lower())
    config_dir = root / "config" / "opencode"
    (config_dir / "node_modules").mkdir(parents=True)
    (config_dir / "package.json").write_bytes(orjson.dumps(PLUGIN_PACKAGE))
    (config_dir / "package-lock.json").write_bytes(orjson.dumps(PLUGIN_LOCK))
    return Setup(project, record, report, shim_log, env, root)


def _refuses(url: str) -> bool:
    """Whether nothing listens at ``url``'s port any more."""
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def _wait(condition: Callable[[], bool], timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.05)


def _assert_reached_opencode(seen: dict[str, Any], setup: Setup) -> None:
    """The fake core's requests through the proxy all reached OpenCode, SSE included."""
    assert seen["serverUrl"].startswith("http://127.0.0.1:"), seen
    assert seen["serverUrl"] != PLACEHOLDER
    assert seen["password"] is True  # the proxy's own password
    assert seen["eventStream"] == {"status": 200, "contentType": "text/event-stream"}, seen
    assert seen["health"]["status"] == 200, seen
    assert seen["health"]["body"] == {"healthy": True, "version": "1.18.33"}
    assert seen["sessions"]["status"] == 200, seen
    assert isinstance(seen["sessions"]["body"], list)
    assert seen["created"]["status"] == 200, seen
    assert seen["created"]["body"]["directory"] == str(setup.project)
    assert seen["created"]["body"]["title"] == "probe through the shim"
    # Live streaming: an event caused after the subscription came through it.
    assert seen["sawCreated"] is True, seen
    assert seen["eventTypes"][:1] == ["server.connected"], seen
    assert "session.created" in seen["eventTypes"]
    assert seen["withoutPassword"]["status"] == 401, seen
    assert "eventError" not in seen, seen


@pytest.fixture
async def served(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[tuple[Setup, str]]:
    """``opencode serve`` with the shim told to use the proxy."""
    setup = await anyio.to_thread.run_sync(_prepare, tmp_path, fake_llm, {"serverAccess": "proxy"})
    base_url = f"http://127.0.0.1:{free_port()}"
    port = base_url.rsplit(":", 1)[1]
    command = [str(find_binary()), "serve", "--hostname", "127.0.0.1", "--port", port]
    with (tmp_path / "opencode.log").open("ab") as log:
        process = await anyio.open_process(
            command,
            cwd=setup.project,
            env=setup.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            with anyio.fail_after(30):
                while True:
                    assert process.returncode is None, (tmp_path / "opencode.log").read_text()
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{base_url}/global/health")).status_code == 200:
                            break
                    await anyio.sleep(0.1)
        yield setup, base_url
    finally:
        with anyio.CancelScope(shield=True):
            await stop_process(process, 5)


async def test_under_serve_the_proxy_reaches_the_real_server(served: tuple[Setup, str]) -> None:
    setup, base_url = served
    params = {"directory": str(setup.project)}
    async with httpx.AsyncClient(base_url=base_url, params=params, timeout=30) as client:
        assert (await client.get("/command")).status_code == 200  # the instance, so the plugin
        seen = await setup.seen()
        _assert_reached_opencode(seen, setup)
        initialize = setup.messages()[0]
        assert initialize["method"] == "initialize"
        assert initialize["params"]["serverUrl"] == seen["serverUrl"] != base_url
        assert len(initialize["params"]["password"]) >= 32
        access = setup.access()
        assert access["message"] == "server access: proxy"
        assert access["proxyUrl"] == seen["serverUrl"]
        assert access["reason"] == 'the option serverAccess is "proxy"'
        # The session made through the proxy is on the real server.
        session = await client.get(f"/session/{seen['created']['body']['id']}")
        assert session.status_code == 200
        assert session.json()["title"] == "probe through the shim"
        # dispose stops the core, then closes the proxy.
        assert (await client.post("/instance/dispose")).status_code == 200
    await _wait(lambda: [m.get("method") for m in setup.messages()][-2:] == ["shutdown", "exit"])
    await _wait(lambda: _refuses(seen["serverUrl"]))


class Terminal:
    """A process on a pseudo-terminal whose output is read (and dropped) by a thread."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        import fcntl  # noqa: PLC0415 - POSIX only, like the test
        import termios  # noqa: PLC0415

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**env, "TERM": "xterm-256color"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self._master = master
        self.output = b""
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output = (self.output + chunk)[-65536:]  # the screen's last bytes, for a failure

    async def stop(self) -> int:
        """SIGTERM to OpenCode alone (it then disposes its instances), SIGKILL to all after 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(10):
                while self.process.poll() is None:
                    await anyio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        code = self.process.wait()
        os.close(self._master)
        self._reader.join(timeout=5)
        return code


async def test_in_the_tui_without_port_the_core_reaches_opencode_through_the_proxy(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    setup = await anyio.to_thread.run_sync(_prepare, tmp_path, fake_llm, {})
    terminal = Terminal([str(find_binary())], setup.project, setup.env)
    try:
        seen = await setup.seen()
        _assert_reached_opencode(seen, setup)
        access = setup.access()
        assert access["message"] == "server access: proxy"
        assert access["serverUrl"] == f"{PLACEHOLDER}/"
        assert "placeholder" in access["reason"]
        assert setup.messages()[0]["params"]["serverUrl"] == seen["serverUrl"]
    finally:
        with anyio.CancelScope(shield=True):
            await terminal.stop()
    # The TUI ran the plugin once (with --port it runs it twice: two cores), and
    # disposing it on SIGTERM stopped the core and closed the proxy.
    loaded = [r for r in setup.log_records() if r.get("message") == "plugin loaded"]
    assert len(loaded) == 1
    assert [m.get("method") for m in setup.messages()][-2:] == ["shutdown", "exit"]
    assert _refuses(seen["serverUrl"])


def test_the_proxy_unit_tests_pass_under_opencodes_bun() -> None:
    """OpenCode runs plugins in its embedded Bun; the unit tests run on Node 20."""
    if not (SHIM / "node_modules" / "@opencode-ai" / "sdk").is_dir():
        pytest.skip("plugin-shim/node_modules is not installed (./dev test installs it)")
    tests = ["./test/proxy.test.ts", "./test/server-access.test.ts"]
    result = subprocess.run(
        [str(find_binary()), "test", *tests],
        cwd=SHIM,
        env={**os.environ, "BUN_BE_BUN": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " 0 fail" in output, output
