"""What every part of a running mission shares: its journal, OpenCode, the pool, the budget."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from opencode_orchestrator.mission.budget import Budget
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.pool import AdaptivePool
from opencode_orchestrator.mission.router import EventRouter
from opencode_orchestrator.opencode.client import OpenCodeClient
from opencode_orchestrator.opencode.errors import OpenCodeClosedError
from opencode_orchestrator.opencode.models import ModelRef

__all__ = ["ROLES", "MissionContext"]

ROLES = ("planner", "worker", "reviewer", "master")


@dataclass(slots=True)
class MissionContext:
    """The services of one running mission (built by the engine, shared by its parts)."""

    project: Path
    config: MissionConfig
    journal: Journal
    client: OpenCodeClient
    router: EventRouter
    pool: AdaptivePool
    budget: Budget
    extra_clients: dict[str, tuple[OpenCodeClient, EventRouter]] = field(default_factory=dict)
    """Clients and routers of racing worktrees, by directory."""
    task_group: TaskGroup | None = None
    """The engine's task group, where worktree event routers run."""
    unrecorded_usage: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Turn id -> tokens and cost of a turn cancelled before it could journal its end."""
    unit_canceller: Callable[[str], Awaitable[None]] | None = None
    """Set by the scheduler: cancels a unit's runner and waits until it stopped."""
    gone_sessions: set[str] = field(default_factory=set)
    """Sessions OpenCode answered 404 for (deleted in OpenCode, or its data lost): a
    later turn of the same role gets a new session. Not journaled: after a resume
    the first turn sent to one finds it gone again."""
    _models: dict[str, ModelRef | None] = field(default_factory=dict, init=False, repr=False)
    """Role -> its model, as :meth:`model_for` found it in ``_models_of``."""
    _models_of: MissionConfig | None = field(default=None, init=False, repr=False)
    _routers: dict[str, tuple[anyio.CancelScope, anyio.Event]] = field(
        default_factory=dict, init=False, repr=False
    )
    """Directory -> the scope its event router runs in (cancelled when it is detached)
    and the event set once the router has ended."""

    async def cancel_unit(self, unit_id: str) -> None:
        """Stop ``unit_id``'s runner (if one runs) and wait until it has."""
        if self.unit_canceller is not None:
            await self.unit_canceller(unit_id)

    async def attach_directory(self, directory: str) -> None:
        """Open a client and an event router for sessions working in ``directory``."""
        if directory in self.extra_clients:
            return
        if self.task_group is None:
            raise RuntimeError("no task group to run the worktree's event router in")
        client = self.client.for_directory(directory)
        client.open()
        router = EventRouter(client, patience=self.config.timeouts.server_patience)
        self.extra_clients[directory] = (client, router)
        stop, ended = anyio.CancelScope(), anyio.Event()
        self._routers[directory] = (stop, ended)
        await self.task_group.start(_run_router, router, stop, ended)

    async def detach_directory(self, directory: str) -> None:
        """Stop ``directory``'s event router, then close its client."""
        running = self._routers.pop(directory, None)
        if running is not None:
            # Ended before the close: a stream reading a connection closed under it
            # fails with whatever the HTTP library raises for that (aiohttp: a bare
            # RuntimeError, which took the engine down in place of the real outcome).
            # Cancelling is not enough: a router woken by data just before resumes
            # and reads again before the cancellation reaches it, so wait for its end.
            stop, ended = running
            stop.cancel()
            await ended.wait()
        entry = self.extra_clients.pop(directory, None)
        if entry is not None:
            await entry[0].aclose()

    @property
    def model(self) -> MissionModel:
        """The mission's state."""
        return self.journal.model

    @property
    def mission_id(self) -> str:
        """The mission's id."""
        return self.journal.model.mission_id

    def model_for(self, role: str) -> ModelRef | None:
        """The ``provider/model`` configured for ``role``, if any."""
        # Asked three or four times a turn; looked up and built once per role (the
        # config and ModelRef are frozen), unless the context's config is replaced.
        if self._models_of is not self.config:
            self._models.clear()
            self._models_of = self.config
        try:
            return self._models[role]
        except KeyError:
            pass
        spec = self.config.models.of(role)
        ref = None
        if spec is not None:
            provider, model = spec.split("/", 1)  # validated: provider/model
            ref = ModelRef(provider_id=provider, model_id=model)
        self._models[role] = ref
        return ref

    def provider_for(self, role: str) -> str | None:
        """The provider ``role`` runs on (``None``: OpenCode's default)."""
        ref = self.model_for(role)
        return ref.provider_id if ref is not None else None

    def client_for(self, directory: str | None) -> tuple[OpenCodeClient, EventRouter]:
        """The client and router for sessions in ``directory`` (``None``: the project)."""
        if directory is None:
            return self.client, self.router
        return self.extra_clients[directory]

    @contextlib.asynccontextmanager
    async def client_in(self, directory: str | None) -> AsyncIterator[OpenCodeClient]:
        """A client for calls about sessions in ``directory``, attached or not.

        The attached one when there is one; else one opened for these calls and
        closed after. After a resume, a race's strategies that had ended before
        the crash have no runner, so nothing attached their worktrees.
        """
        entry = None if directory is None else self.extra_clients.get(directory)
        if directory is None or entry is not None:
            yield self.client if entry is None else entry[0]
            return
        client = self.client.for_directory(directory)
        client.open()
        try:
            yield client
        finally:
            await client.aclose()


async def _run_router(
    router: EventRouter,
    stop: anyio.CancelScope,
    ended: anyio.Event,
    *,
    task_status: Any = anyio.TASK_STATUS_IGNORED,
) -> None:
    # Stopped when its directory is detached: the race is over, not an error (nor is
    # its client closed some other way).
    try:
        with stop, contextlib.suppress(OpenCodeClosedError):
            await router.run(task_status=task_status)
    finally:
        ended.set()
