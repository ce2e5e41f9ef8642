"""The end-to-end world through the plugin shim: missions started with ``/extreme-mission``.

:func:`shim_world` is :func:`~opencode_orchestrator.testing.mission_e2e.scenario_world`
with the plugin installed the way a user installs it: the real CLI,
``python -m opencode_orchestrator install --project DIR``, run before OpenCode
starts (:func:`install_plugin`). OpenCode then loads the shim from this
checkout (or the installed package), the shim registers the mission agents
from the core's ``agents/list`` and spawns the core, and a test starts a
mission as a user would: ``POST /session/:id/command {command:
"extreme-mission", arguments: goal}`` on a session it created, which becomes
the mission's parent (:meth:`ShimWorld.start_mission`).

:class:`ShimWorld` reads back what happened: the WAL (:meth:`ShimWorld.records`,
:meth:`ShimWorld.wait_for`), the shim's log with the core's stderr in it
(:meth:`ShimWorld.log_lines`), the toasts the shim showed (the
``tui.toast.show`` events of ``GET /event``, collected for the whole block),
and the core's process (:meth:`ShimWorld.core_pid`).

Plugin start-up with a plugin configured runs an npm install of
``@opencode-ai/plugin`` into every config directory, which offline stalls for
about 70 s; :func:`seed_plugin_package` makes OpenCode skip it, in the global
config directory and in ``<project>/.opencode/`` (where the mission WALs live,
so it exists from the first mission on).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio
import httpx
import orjson
from anyio.abc import TaskGroup, TaskStatus

from opencode_orchestrator.testing.fake_llm import Responder
from opencode_orchestrator.testing.mission_e2e import E2EWorld, scenario_world
from opencode_orchestrator.testing.real_opencode import RealOpenCode
from opencode_orchestrator.testing.scenario import Scenario
from opencode_orchestrator.testing.scenario_player import ScenarioPlayer
from opencode_orchestrator.testing.shim_support import (
    PLUGIN_LOCK,
    PLUGIN_PACKAGE,
    Holding,
    final_state,
    install_plugin,
    opencode_user_messages,
    proc_cpu_seconds,
    proc_status,
    read_wal,
    seed_plugin_package,
)
from opencode_orchestrator.wal.record import Record

__all__ = [
    "MISSION_DEADLINE",
    "PLUGIN_LOCK",
    "PLUGIN_PACKAGE",
    "PROGRESS_POST",
    "Holding",
    "ShimWorld",
    "StartedMission",
    "final_state",
    "install_plugin",
    "opencode_user_messages",
    "proc_cpu_seconds",
    "read_wal",
    "seed_plugin_package",
    "shim_world",
]

MISSION_DEADLINE: Final = 180.0
"""Seconds a whole mission may take: minutes of margin on a loaded 2-vCPU machine."""

_POLL: Final = 0.05
_EVENT_RECONNECT: Final = 0.2
_STARTED: Final = re.compile(r"Mission (\S+) started")
PROGRESS_POST: Final = re.compile(r"^Mission \S+(?::| [A-Z_]{4,}: )")
"""What the core's ``mission/progress`` posts look like ("Mission m: plan accepted, …",
"Mission m SEALED: …"); no command's reply does ("Mission m started: …", a table)."""
_STOP_GRACE: Final = 0.5


@dataclass(frozen=True, slots=True)
class StartedMission:
    """A mission started with ``/extreme-mission``."""

    session: str
    """The user's session where the command was typed: the mission's parent."""
    mission_id: str
    reply: str
    """What the shim posted into that session."""


@dataclass(slots=True)
class ShimWorld:
    """A scenario world whose OpenCode runs the installed plugin (see :func:`shim_world`)."""

    world: E2EWorld
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every ``GET /event`` event seen so far (``{type, properties}``), across restarts."""
    _listener: anyio.CancelScope | None = None
    _group: TaskGroup | None = None
    _waiters: list[anyio.Event] = field(default_factory=list)

    # -- the parts ---------------------------------------------------------------------

    @property
    def project(self) -> Path:
        """The git project OpenCode serves."""
        return self.world.project

    @property
    def scenario(self) -> Scenario:
        """What the fake LLM plays."""
        return self.world.scenario

    @property
    def player(self) -> ScenarioPlayer:
        """The fake LLM's player (its ``requests`` and ``turns``)."""
        return self.world.player

    @property
    def opencode(self) -> RealOpenCode:
        """The running ``opencode serve``."""
        return self.world.opencode

    def client(self, timeout: float | None = 60.0) -> httpx.AsyncClient:
        """An HTTP client for OpenCode's API, addressing the project."""
        return httpx.AsyncClient(
            base_url=self.opencode.base_url,
            params={"directory": str(self.project)},
            timeout=timeout,
        )

    # -- OpenCode's API ----------------------------------------------------------------

    async def new_session(self) -> str:
        """``POST /session``: a session of the user's; its id."""
        async with self.client() as client:
            response = await client.post("/session", json={})
            response.raise_for_status()
            return str(response.json()["id"])

    async def command(self, session: str, command: str, arguments: str = "") -> str:
        """Type ``/<command> <arguments>`` in ``session``; the text the shim posted in reply.

        The shim answers its commands without a model turn: it posts its reply
        into the session and ends the command by throwing, which OpenCode
        1.18.33 answers with HTTP 500 ``UnknownError`` (see plugin-shim/README.md).
        """
        async with self.client() as client:
            before = len(await self._messages(client, session))
            response = await client.post(
                f"/session/{session}/command", json={"command": command, "arguments": arguments}
            )
            if response.status_code != 500 or response.json().get("name") != "UnknownError":
                raise AssertionError(
                    f"/{command}: the shim did not handle it: {response.status_code} "
                    f"{response.text[:500]}"
                )
            messages = (await self._messages(client, session))[before:]
        # The mission's progress may be posted into the same session meanwhile.
        texts = [
            str(part["text"])
            for message in messages
            for part in message["parts"]
            if part.get("type") == "text" and not PROGRESS_POST.match(str(part["text"]))
        ]
        if not texts:
            raise AssertionError(f"/{command}: nothing was posted into the session")
        return texts[-1]

    async def start_mission(self, goal: str | None = None) -> StartedMission:
        """``/extreme-mission <goal>`` (default: the scenario's) in a new session of the user's."""
        session = await self.new_session()
        reply = await self.command(session, "extreme-mission", goal or self.scenario.goal)
        match = _STARTED.search(reply)
        if match is None:
            raise AssertionError(f"/extreme-mission did not start a mission: {reply!r}")
        return StartedMission(session, match.group(1), reply)

    @staticmethod
    async def _messages(client: httpx.AsyncClient, session: str) -> list[dict[str, Any]]:
        response = await client.get(f"/session/{session}/message")
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()
        return messages

    async def messages(self, session: str) -> list[dict[str, Any]]:
        """``GET /session/:id/message``."""
        async with self.client() as client:
            return await self._messages(client, session)

    async def last_message(self, session: str) -> dict[str, Any]:
        """The session's newest message (``GET /session/:id/message?limit=1``).

        OpenCode 1.18.33 cannot list the messages of a session holding a
        ``format`` prompt (HTTP 400), but lists its newest one, an assistant
        message once the model answered.
        """
        async with self.client() as client:
            response = await client.get(f"/session/{session}/message", params={"limit": 1})
            response.raise_for_status()
            messages: list[dict[str, Any]] = response.json()
            return messages[-1]

    async def children(self, session: str) -> list[dict[str, Any]]:
        """``GET /session/:id/children``."""
        async with self.client() as client:
            response = await client.get(f"/session/{session}/children")
            response.raise_for_status()
            children: list[dict[str, Any]] = response.json()
            return children

    async def session_status(self) -> dict[str, Any]:
        """``GET /session/status``: busy (or retrying) sessions; idle ones are left out."""
        async with self.client() as client:
            response = await client.get("/session/status")
            response.raise_for_status()
            status: dict[str, Any] = response.json()
            return status

    def toasts(self) -> list[dict[str, Any]]:
        """The toasts shown so far (``{title, message, variant, ...}``)."""
        return [e["properties"] for e in self.events if e.get("type") == "tui.toast.show"]

    async def wait_for_toast(self, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Wait for a toast that satisfies ``condition`` (woken by each event); the toast.

        Bound it with :meth:`deadline`.
        """
        event = await self.wait_for_event(
            lambda e: e.get("type") == "tui.toast.show" and condition(e["properties"])
        )
        toast: dict[str, Any] = event["properties"]
        return toast

    async def wait_for_event(self, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Wait for a ``GET /event`` event that satisfies ``condition``; the first such event.

        Bound it with :meth:`deadline`.
        """
        while True:
            found = [event for event in self.events if condition(event)]
            if found:
                return found[0]
            waiter = anyio.Event()
            self._waiters.append(waiter)
            await waiter.wait()

    @staticmethod
    def posted_text(event: dict[str, Any], session: str) -> str | None:
        """The text of a text part stored in ``session``, if ``event`` is one."""
        if event.get("type") != "message.part.updated":
            return None
        part = event.get("properties", {}).get("part") or {}
        if part.get("sessionID") != session or part.get("type") != "text":
            return None
        return str(part.get("text", ""))

    # -- the WAL -------------------------------------------------------------------------

    async def records(self, mission_id: str) -> list[Record]:
        """The mission's WAL records so far."""
        return await anyio.to_thread.run_sync(read_wal, self.project, mission_id)

    async def wait_for(
        self, mission_id: str, condition: Callable[[list[Record]], bool], what: str
    ) -> list[Record]:
        """Wait until the mission's WAL records satisfy ``condition``; the records then.

        Bound it with :meth:`deadline` (or ``anyio.fail_after``). The WAL is
        written by the core, another process: there is no event to wait on, so
        the file is read every few hundredths of a second.

        Raises:
            AssertionError: the mission reached a final state without ``condition``.
        """
        while True:
            records = await self.records(mission_id)
            if condition(records):
                return records
            ended = final_state(records)
            if ended is not None:
                raise AssertionError(
                    f"the mission ended {ended} before {what}\n{await self.explain(mission_id)}"
                )
            # Polled: a file another process writes has no event to wait on.
            await anyio.sleep(_POLL)

    async def wait_for_end(self, mission_id: str) -> list[Record]:
        """Wait for a final ``mission.state`` in the WAL; every record then."""
        return await self.wait_for(mission_id, lambda r: final_state(r) is not None, "final state")

    @asynccontextmanager
    async def deadline(
        self, seconds: float, what: str, mission_id: str | None = None
    ) -> AsyncIterator[None]:
        """``anyio.fail_after(seconds)``, failing with what was awaited and what happened.

        Raises:
            AssertionError: the time ran out (with the WAL's and the shim log's tails).
        """
        try:
            with anyio.fail_after(seconds):
                yield
        except TimeoutError:
            raise AssertionError(
                f"no {what} within {seconds} s\n{await self.explain(mission_id)}"
            ) from None

    async def explain(self, mission_id: str | None = None) -> str:
        """The WAL's last records and the shim log's tail, for a failure message."""
        records = await self.records(mission_id) if mission_id is not None else []
        tail = [f"{r.seq} {r.type} {orjson.dumps(r.data).decode()[:300]}" for r in records[-25:]]
        log = await anyio.to_thread.run_sync(self.log_text)
        return (
            "WAL (last records):\n"
            + "\n".join(tail)
            + "\nshim log (tail):\n"
            + "\n".join(log.splitlines()[-40:])
        )

    # -- the shim's log and the core's process ---------------------------------------

    def log_path(self) -> Path | None:
        """The shim's log file (its default place under the isolated ``XDG_STATE_HOME``)."""
        logs = sorted((self.opencode.state_dir / "state" / "opencode-orchestrator").glob("logs/*"))
        found = [p for p in logs if p.suffix == ".log"]
        return found[0] if found else None

    def log_text(self) -> str:
        """The shim's log so far (blocking I/O)."""
        path = self.log_path()
        return "" if path is None else path.read_text(errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        """The shim's log as JSON objects: its own lines and the core's stderr (blocking I/O)."""
        lines: list[dict[str, Any]] = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(line)
                if isinstance(value, dict):
                    lines.append(value)
        return lines

    def cores_started(self) -> list[int]:
        """The pids of the cores the shim reported ready, in order (blocking I/O)."""
        return [
            int(line["pid"])
            for line in self.log_lines()
            if line.get("source") == "shim" and line.get("message") == "the core is ready"
        ]

    def core_pid(self) -> int | None:
        """The live core: the newest ready core, a child of OpenCode running ``serve``."""
        pids = self.cores_started()
        if not pids:
            return None
        found = proc_status(pids[-1])
        if found is None:
            return None
        cmdline, ppid = found
        if "opencode_orchestrator serve" not in cmdline or ppid != self.opencode.pid:
            return None
        return pids[-1]

    async def wait_for_core(self, *, newer_than: int = 0) -> int:
        """Wait until more than ``newer_than`` cores were ready and one lives; its pid.

        The shim logs each ready core; its log is polled like the WAL, for the
        same reason. Bound it with :meth:`deadline`.
        """

        def ready() -> int | None:
            return self.core_pid() if len(self.cores_started()) > newer_than else None

        while True:
            pid = await anyio.to_thread.run_sync(ready)
            if pid is not None:
                return pid
            await anyio.sleep(_POLL)  # polled, like the WAL

    # -- OpenCode's life ---------------------------------------------------------------

    async def restart_opencode(self) -> None:
        """Stop ``opencode serve`` and start it again (same port, same state directories).

        The event stream is closed first (OpenCode's shutdown would wait on it)
        and reopened after. The plugin, and with it a new core, starts when the
        project's instance does: on the first request that names the project.
        """
        self._stop_listening()
        await self.opencode.restart()
        async with self.client() as client:
            (await client.get("/session/status")).raise_for_status()
        await self._listen()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.set()

    async def _listen(self) -> None:
        assert self._group is not None
        self._listener = await self._group.start(self._collect_events)

    def _stop_listening(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            self._listener = None

    async def _collect_events(
        self, *, task_status: TaskStatus[anyio.CancelScope] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with anyio.CancelScope() as scope:
            started = False
            async with self.client(timeout=None) as client:
                while True:
                    try:
                        async with client.stream("GET", "/event") as response:
                            response.raise_for_status()
                            if not started:
                                started = True
                                task_status.started(scope)
                            async for line in response.aiter_lines():
                                if line.startswith("data: "):
                                    event = orjson.loads(line[6:])
                                    if isinstance(event, dict):
                                        self.events.append(event)
                                        self._wake()
                    except (httpx.HTTPError, orjson.JSONDecodeError):
                        pass
                    # Reconnect after OpenCode went away (a deliberate restart or stop).
                    await anyio.sleep(_EVENT_RECONNECT)


@asynccontextmanager
async def shim_world(
    project: Path,
    scenario: Scenario,
    *,
    responder: Callable[[ScenarioPlayer], Responder] | None = None,
    retry_after: float = 0.2,
) -> AsyncIterator[ShimWorld]:
    """Run the fake LLM playing ``scenario`` and OpenCode with the installed plugin.

    Args:
        project: a directory to make the git project (created if missing).
        scenario: what the model's roles do.
        responder: wraps the player as the fake LLM's responder (e.g. to hold a
            turn's answer); default: the player itself.
        retry_after: seconds a 429 tells OpenCode to wait.
    """
    async with scenario_world(
        project,
        scenario,
        config={},
        prepare=install_plugin,
        retry_after=retry_after,
        responder=responder,
    ) as world:
        shim = ShimWorld(world)
        async with anyio.create_task_group() as group:
            shim._group = group
            await shim._listen()
            try:
                yield shim
            finally:
                shim._stop_listening()
                group.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await world.opencode.stop(grace=_STOP_GRACE)
