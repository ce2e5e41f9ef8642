"""One contract suite, two servers: the simulator and a real ``opencode serve``.

Every test in this folder runs once against each (``server`` is parametrized
by kind). The real server is OpenCode 1.18.33 from npm (installed by
``./dev``), answering through our fake LLM on 127.0.0.1; the simulator is
``SimServer`` in-process. Servers are module-scoped because the real one takes
seconds to start; tests therefore make their own sessions and never assume an
empty server. Every JSON body a test's client receives is checked against the
OpenAPI document at teardown (:class:`RecordingTransport`), and every event
the ``events`` fixture saw against its ``Event`` branch.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from httpx_sse import aconnect_sse

from opencode_orchestrator import runtime
from opencode_orchestrator.opencode import OpenCodeClient, RetryPolicy
from opencode_orchestrator.sim import SimServer
from opencode_orchestrator.testing.fake_llm import FakeLLM
from opencode_orchestrator.testing.real_opencode import RealOpenCode
from tests.contract.openapi import check_event
from tests.contract.recording import RecordingTransport


class Kind(enum.StrEnum):
    SIM = "sim"
    REAL = "real"


PASSWORD = "contract-secret"


@dataclass
class ContractServer:
    """A running server of either kind, as the tests see it."""

    kind: Kind
    base_url: str
    directory: Path
    restart: Callable[[], Awaitable[None]]
    llm: FakeLLM | None = None


@dataclass
class RawEvents:
    """Every event payload the server streamed on ``/event`` during one test."""

    events: list[dict[str, Any]] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def add(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.changed.set()
        self.changed = anyio.Event()

    def of(self, event_type: str, session_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("type") == event_type and (session_id is None or _session_of(e) == session_id)
        ]

    async def wait_for(
        self, event_type: str, session_id: str | None = None, *, timeout: float = 20.0
    ) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while not (found := self.of(event_type, session_id)):
                await self.changed.wait()
        return found[0]

    async def wait_for_assistant(self, session_id: str, *, timeout: float = 20.0) -> str:
        """Wait until the turn's assistant message exists; return its id."""
        with anyio.fail_after(timeout):
            while True:
                for event in self.of("message.updated", session_id):
                    info = event["properties"]["info"]
                    if info["role"] == "assistant":
                        return str(info["id"])
                await self.changed.wait()


def _session_of(event: dict[str, Any]) -> str | None:
    props = event.get("properties", {})
    if "sessionID" in props:
        return str(props["sessionID"])
    info = props.get("info") or props.get("part") or {}
    value = info.get("sessionID") or (
        info.get("id") if event["type"].startswith("session.") else None
    )
    return None if value is None else str(value)


@pytest.fixture(scope="module")
def anyio_backend() -> tuple[str, dict[str, Any]]:
    # Module scope, so one server (and its loop) serves a whole module.
    return runtime.BACKEND, runtime.backend_options()


@pytest.fixture(scope="module", params=[Kind.SIM, Kind.REAL], ids=str)
async def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ContractServer]:
    async with _running(request.param, tmp_path_factory) as running:
        yield running


@contextlib.asynccontextmanager
async def _running(
    kind: Kind, tmp_path_factory: pytest.TempPathFactory, *, password: str | None = None
) -> AsyncIterator[ContractServer]:
    project = tmp_path_factory.mktemp(f"project-{kind}")
    if kind is Kind.SIM:
        state = tmp_path_factory.mktemp("sim-state")
        async with SimServer.running(
            state, seed=7, directory=str(project), password=password
        ) as sim:
            yield ContractServer(kind, sim.base_url, project, sim.restart)
    else:
        async with (
            FakeLLM.running() as llm,
            RealOpenCode.start(project, llm.base_url, password=password) as real,
        ):
            yield ContractServer(kind, real.base_url, project, real.restart, llm)


@pytest.fixture(scope="module", params=[Kind.SIM, Kind.REAL], ids=str)
async def secured_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ContractServer]:
    """A server that requires basic auth with :data:`PASSWORD`."""
    async with _running(request.param, tmp_path_factory, password=PASSWORD) as running:
        yield running


@pytest.fixture
async def recorder() -> AsyncIterator[RecordingTransport]:
    transport = RecordingTransport()
    yield transport
    transport.check_all()


@pytest.fixture
async def client(
    server: ContractServer, recorder: RecordingTransport
) -> AsyncIterator[OpenCodeClient]:
    async with _client_for(server, recorder) as opened:
        yield opened


def _client_for(server: ContractServer, recorder: RecordingTransport) -> OpenCodeClient:
    return OpenCodeClient(
        server.base_url,
        directory=str(server.directory),
        transport=recorder,
        retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.5),
    )


@pytest.fixture
async def events(server: ContractServer) -> AsyncIterator[RawEvents]:
    """The raw ``/event`` stream, read from before the test starts until it ends."""
    raw = RawEvents()
    async with anyio.create_task_group() as tg, httpx.AsyncClient(timeout=None) as http:
        connected = anyio.Event()

        async def follow() -> None:
            url = f"{server.base_url}/event"
            params = {"directory": str(server.directory)}
            async with aconnect_sse(http, "GET", url, params=params) as source:
                async for sse in source.aiter_sse():
                    event = sse.json()
                    raw.add(event)
                    if event.get("type") == "server.connected":
                        connected.set()

        tg.start_soon(follow)
        with anyio.fail_after(10):
            await connected.wait()
        yield raw
        tg.cancel_scope.cancel()
    for event in raw.events:
        check_event(event)
