"""Start a real ``opencode serve`` with isolated state, pointed at the fake LLM.

The binary is the npm package ``opencode-ai`` pinned in ``tools/opencode``
(``./dev test`` installs it). Everything OpenCode would keep in the home
directory goes to a temporary directory owned by :class:`RealOpenCode`, so
tests do not see each other or the developer's own configuration; that
directory outlives :meth:`RealOpenCode.restart`, so state survives a restart
the way it does on a real machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import anyio
import httpx
import orjson
from anyio.abc import Process

__all__ = [
    "OPENCODE_ENV",
    "OpenCodeNotInstalledError",
    "OpenCodeStartError",
    "RealOpenCode",
    "free_port",
    "stop_process",
]

_BIN_RELATIVE: Final = Path("tools/opencode/node_modules/.bin/opencode")
_INSTALL_HINT: Final = (
    "the opencode binary is not installed; run `./dev test` (or `npm install --prefix "
    "tools/opencode --no-save`) from the repository root, or set OPENCODE_BIN"
)
#: Offline, deterministic start-up (see docs/opencode-observed.md).
OPENCODE_ENV: Final = {
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
    "OPENCODE_DISABLE_EXTERNAL_SKILLS": "1",
}
_READY_DEADLINE: Final = 30.0
_STOP_GRACE: Final = 5.0


class OpenCodeNotInstalledError(RuntimeError):
    """No ``opencode`` binary was found."""


class OpenCodeStartError(RuntimeError):
    """The server did not become healthy; the message ends with its log."""


def find_binary(binary: Path | None = None) -> Path:
    """The binary to run: ``binary``, else ``$OPENCODE_BIN``, else ``tools/opencode`` above cwd.

    Raises:
        OpenCodeNotInstalledError: none exists, with the command that installs it.
    """
    if binary is not None:
        candidates = [binary]
    elif env := os.environ.get("OPENCODE_BIN"):
        candidates = [Path(env)]
    else:
        here = Path.cwd().resolve()
        candidates = [parent / _BIN_RELATIVE for parent in (here, *here.parents)]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise OpenCodeNotInstalledError(f"{_INSTALL_HINT} (looked at {candidates[0]})")


def project_config(llm_base_url: str) -> dict[str, Any]:
    """The ``opencode.json`` that makes the fake LLM the only provider.

    No ``plugin`` key: any plugin makes start-up run an npm install.
    """
    return {
        "$schema": "https://opencode.ai/config.json",
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
        "autoupdate": False,
        "share": "disabled",
        "enabled_providers": ["fake"],
        "provider": {
            "fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake LLM (local)",
                "options": {"baseURL": llm_base_url, "apiKey": "sk-fake"},
                "models": {
                    "fake-model": {
                        "name": "Fake Model",
                        "tool_call": True,
                        "limit": {"context": 128000, "output": 4096},
                    }
                },
            }
        },
        "permission": {"edit": "allow", "bash": "allow", "webfetch": "deny"},
    }


def _prepare_project(
    project_dir: Path, llm_base_url: str, extra: Mapping[str, Any] | None = None
) -> None:
    # Blocking file and git work: run in a worker thread by the caller.
    project_dir.mkdir(parents=True, exist_ok=True)
    settings = {**project_config(llm_base_url), **(extra or {})}
    config = orjson.dumps(settings, option=orjson.OPT_INDENT_2)
    (project_dir / "opencode.json").write_bytes(config)
    if (project_dir / ".git").exists():
        return
    # Without a repository OpenCode takes / as the project root.
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=project_dir, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project_dir, check=True)
    subprocess.run(
        [*git, "commit", "-q", "--allow-empty", "-m", "initial"], cwd=project_dir, check=True
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def stop_process(process: Process, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` s; the process is reaped and closed."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        with anyio.move_on_after(grace):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    await process.aclose()


class RealOpenCode:
    """One running ``opencode serve``; use :meth:`start`."""

    def __init__(
        self, binary: Path, project_dir: Path, state_dir: Path, password: str | None
    ) -> None:
        self.binary = binary
        self.directory = project_dir
        self.state_dir = state_dir
        self.password = password
        self.port = free_port()
        self.log_path = state_dir / "opencode.log"
        self._process: Process | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; the same across :meth:`restart`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_home(self) -> Path:
        """The server's ``XDG_CONFIG_HOME`` (its global config is ``config_home/opencode``)."""
        return self.state_dir / "config"

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    @property
    def auth(self) -> httpx.BasicAuth | None:
        """Credentials for an httpx client when a password is set."""
        return None if self.password is None else httpx.BasicAuth("opencode", self.password)

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        project_dir: Path,
        llm_base_url: str,
        *,
        password: str | None = None,
        binary: Path | None = None,
        config: Mapping[str, Any] | None = None,
        prepare: Callable[[RealOpenCode], None] | None = None,
    ) -> AsyncIterator[RealOpenCode]:
        """Run the server for the duration of the block, then stop it.

        Args:
            project_dir: the project (``git init``-ed here if it is not a repository).
            llm_base_url: the fake LLM's ``baseURL``.
            password: turns on basic auth.
            binary: the ``opencode`` binary (default: :func:`find_binary`).
            config: top-level keys added to (or replacing) :func:`project_config`'s
                in ``opencode.json``, e.g. ``{"agent": {...}}``.
            prepare: called (in a worker thread) once the project and its
                ``opencode.json`` exist, before the server starts: to install a
                plugin into the project, or seed :attr:`config_home`.

        Raises:
            OpenCodeNotInstalledError: no binary (the message says how to install it).
            OpenCodeStartError: it did not answer ``/global/health`` in time.
        """
        found = find_binary(binary)
        await anyio.to_thread.run_sync(_prepare_project, project_dir, llm_base_url, config)
        with tempfile.TemporaryDirectory(prefix="opencode-state-") as state:
            server = cls(found, project_dir, Path(state), password)
            try:
                if prepare is not None:
                    await anyio.to_thread.run_sync(prepare, server)
                await server._launch()
                yield server
            finally:
                with anyio.CancelScope(shield=True):
                    await server.stop()

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **OPENCODE_ENV}
        for name in ("CONFIG", "DATA", "CACHE", "STATE"):
            path = self.state_dir / name.lower()
            path.mkdir(parents=True, exist_ok=True)
            env[f"XDG_{name}_HOME"] = str(path)
        env.pop("OPENCODE_SERVER_PASSWORD", None)
        if self.password is not None:
            env["OPENCODE_SERVER_PASSWORD"] = self.password
        return env

    async def _launch(self) -> None:
        command = [
            str(self.binary),
            *("serve", "--hostname", "127.0.0.1", "--port", str(self.port)),
        ]
        env = await anyio.to_thread.run_sync(self._env)
        log = await anyio.to_thread.run_sync(lambda: self.log_path.open("ab"))
        try:
            self._process = await anyio.open_process(
                command,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        # A request sent the instant the port opens can hang: short timeouts, retried.
        assert self._process is not None
        async with httpx.AsyncClient(auth=self.auth, timeout=1.0) as client:
            with anyio.move_on_after(_READY_DEADLINE):
                while self._process.returncode is None:
                    try:
                        response = await client.get(f"{self.base_url}/global/health")
                        if response.status_code == 200:
                            return
                    except httpx.HTTPError:
                        pass
                    await anyio.sleep(0.1)
        tail = await self.log_tail()
        await self.stop()
        raise OpenCodeStartError(f"opencode serve did not become healthy; log tail:\n{tail}")

    async def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's combined stdout/stderr."""

        def read() -> str:
            try:
                text = self.log_path.read_text(errors="replace")
            except FileNotFoundError:
                return ""
            return "\n".join(text.splitlines()[-lines:])

        return await anyio.to_thread.run_sync(read)

    async def stop(self, *, grace: float = _STOP_GRACE) -> None:
        """SIGTERM, then SIGKILL after ``grace`` s (SIGINT is ignored by a background server).

        OpenCode's SIGTERM shutdown waits for open event streams, and it notices
        a client that went away (a process that exited) only when a heartbeat
        write fails, up to 10 s later: such a stop ends in SIGKILL.
        """
        process, self._process = self._process, None
        if process is not None:
            await stop_process(process, grace)

    async def restart(self) -> None:
        """Stop and start again on the same port, with the same state directories."""
        await self.stop()
        await self._launch()
