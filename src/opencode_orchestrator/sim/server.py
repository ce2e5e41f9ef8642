"""The simulator as a server: bind loopback, serve, restart in place, stop.

:meth:`SimServer.running` runs one supervisor task that owns everything: each
*run* opens the store, loads the sessions, starts uvicorn on a socket bound to
the port, and waits for a stop or restart request. A restart ends the run the
way a killed process would (turns in flight are cancelled, not finished) and
starts a new one on the same port, reloading from disk; the turns that were
cut short end with an error there, as they do after OpenCode restarts.

Lifecycle::

    NEW ──start──► RUNNING ──restart──► RESTARTING ──► RUNNING
                      └───────────stop──────────► STOPPED (final)
"""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Final

import anyio
import uvicorn
from anyio.abc import TaskStatus

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.sim.config import FaultConfig, SimConfig
from opencode_orchestrator.sim.engine import EventBus, FaultInjector, SessionHub
from opencode_orchestrator.sim.errors import SimBindError, SimLifecycleError
from opencode_orchestrator.sim.http import SimContext, build_app
from opencode_orchestrator.sim.state import SimStore

__all__ = ["LOOPBACK_HOSTS", "SimServer", "SimServerState", "bind_loopback"]

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})
_GRACE: Final = 1
_log = get_logger(__name__)


class SimServerState(enum.Enum):
    """Where a :class:`SimServer` is in its life."""

    NEW = "new"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"


def bind_loopback(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; only loopback hosts are accepted.

    Raises:
        SimBindError: ``host`` is not 127.0.0.1, ::1 or localhost.
        OSError: the port cannot be bound.
    """
    if host not in LOOPBACK_HOSTS:
        raise SimBindError(host)
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    address = "127.0.0.1" if host == "localhost" else host
    if not ipaddress.ip_address(address).is_loopback:  # belt and braces
        raise SimBindError(host)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers (the owner decides what a signal means)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start, then say so."""
        await super().startup(sockets)
        self.ready.set()


class SimServer:
    """A simulated OpenCode server; use :meth:`running`."""

    def __init__(
        self,
        state_dir: Path,
        *,
        config: SimConfig,
        host: str,
        port: int,
        password: str | None,
        directory: str | None,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise SimBindError(host)
        self.state_dir = state_dir
        self.config = config
        self.host = host
        self.port = port
        self._password = password
        self._directory = directory or os.getcwd()
        self._faults = FaultInjector(config)
        self._state = SimServerState.NEW
        self._wake = anyio.Event()
        self._restarted = anyio.Event()
        self._stopped = anyio.Event()
        self._context: SimContext | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        state_dir: Path,
        *,
        seed: int | None = None,
        config: SimConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str | None = None,
        directory: str | None = None,
    ) -> AsyncIterator[SimServer]:
        """Serve until the block exits; ``seed`` overrides ``config.seed``.

        Raises:
            SimBindError: ``host`` is not loopback.
        """
        config = config or SimConfig()
        if seed is not None:
            config = config.model_copy(update={"seed": seed})
        sim = cls(
            state_dir, config=config, host=host, port=port, password=password, directory=directory
        )
        async with anyio.create_task_group() as tg:
            await tg.start(sim._supervise)
            try:
                yield sim
            finally:
                with anyio.CancelScope(shield=True):
                    await sim.stop()

    @property
    def state(self) -> SimServerState:
        """The lifecycle state."""
        return self._state

    @property
    def base_url(self) -> str:
        """``http://host:port``, with the port actually bound."""
        host = {"::1": "[::1]", "localhost": "127.0.0.1"}.get(self.host, self.host)
        return f"http://{host}:{self.port}"

    def _require(self, *states: SimServerState) -> None:
        if self._state not in states:
            raise SimLifecycleError(f"simulator is {self._state.value}")

    async def restart(self) -> None:
        """Stop as if killed and start again on the same port, reloading state from disk.

        Raises:
            SimLifecycleError: the server is not running.
        """
        self._require(SimServerState.RUNNING)
        self._state = SimServerState.RESTARTING
        self._restarted = anyio.Event()
        self._wake.set()
        await self._restarted.wait()

    async def stop(self) -> None:
        """Stop serving; idempotent."""
        if self._state in (SimServerState.NEW, SimServerState.STOPPED):
            self._state = SimServerState.STOPPED
            return
        self._state = SimServerState.STOPPED
        self._wake.set()
        await self._stopped.wait()

    def drop_streams(self) -> int:
        """End every open event stream; return how many there were."""
        self._require(SimServerState.RUNNING)
        assert self._context is not None
        return self._context.bus.drop_all()

    def set_faults(self, faults: FaultConfig | None = None, **update: Any) -> FaultConfig:
        """Replace the faults (all of them, or the fields named in ``update``)."""
        base = SimConfig(faults=faults or self._faults.faults)
        merged = base.with_faults(update).faults
        self._faults.update(merged)
        return merged

    async def _supervise(self, *, task_status: TaskStatus[None]) -> None:
        started = False

        def ready() -> None:
            nonlocal started
            self._state = SimServerState.RUNNING
            if not started:
                started = True
                task_status.started()
            self._restarted.set()

        try:
            while self._state is not SimServerState.STOPPED:
                sock = bind_loopback(self.host, self.port)
                self.port = sock.getsockname()[1]
                self._wake = anyio.Event()
                await self._run_once(sock, ready)
        finally:
            self._stopped.set()

    async def _run_once(self, sock: socket.socket, ready: Callable[[], None]) -> None:
        store = await SimStore.open(self.state_dir)
        try:
            bus = EventBus()
            async with anyio.create_task_group() as server_tg:
                async with anyio.create_task_group() as turns_tg:
                    hub = SessionHub(store, bus, self.config, self._faults, turns_tg)
                    await hub.load()
                    ctx = SimContext(
                        hub=hub,
                        bus=bus,
                        faults=self._faults,
                        default_directory=self._directory,
                        state_dir=self.state_dir,
                        heartbeat=self.config.heartbeat,
                    )
                    server = _Uvicorn(
                        uvicorn.Config(
                            build_app(ctx, password=self._password),
                            log_config=None,
                            access_log=False,
                            lifespan="off",
                            # Nothing proxies a loopback simulator: the middleware
                            # that reads forwarding headers would only cost time.
                            proxy_headers=False,
                            timeout_graceful_shutdown=_GRACE,
                        )
                    )
                    server_tg.start_soon(server.serve, [sock])
                    await server.ready.wait()
                    self._context = ctx
                    ready()
                    _log.info("sim.serving", url=self.base_url, sessions=len(hub.sessions))
                    await self._wake.wait()
                    # Like a killed process: streams cut, turns stopped where they are.
                    bus.drop_all()
                    turns_tg.cancel_scope.cancel()
                server.should_exit = True
        finally:
            self._context = None
            sock.close()
            with anyio.CancelScope(shield=True):
                await store.close()
