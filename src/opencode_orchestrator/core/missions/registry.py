"""The missions this core process runs, as background tasks of one task group.

::

    start/resume ──► reserved ──journal open──► running ──engine.run() ends──► gone
                                                        (final: report, then its end told)
                                                   │
                         stop() (shutdown) ────────┴──► cancelled where it stands:
                                                        WAL closed, resumable (not CANCELLED)

:meth:`MissionRegistry.run` owns the task group; the server runs it for as
long as it serves. A mission's task holds its engine open (``MissionEngine.create``
or ``.resume``) and runs it; :meth:`start` and :meth:`resume` return once
the journal is open (a new mission's ``mission.created`` is durable). An
error that stops a mission is logged, kept for ``mission/status`` and sent as
a ``mission/progress`` notification; it never reaches the core. Missions talk
to OpenCode through one :class:`OpenCodeClient` per project directory, made
on first need from ``initialize``'s ``serverUrl`` and ``password``. Each start
and resume reads the project's configuration (in a thread): a new mission
runs under it unless ``mission/start`` brings its own settings, and every
journal is opened with its ``wal`` durability.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from opencode_orchestrator.core.missions.opening import (
    OpenCodeTarget,
    check_resumable,
    project_config,
    translate_open_error,
)
from opencode_orchestrator.core.missions.progress import Notify, ProgressSender
from opencode_orchestrator.core.missions.running import (
    RunningMission,
    observe_journal,
    write_mission_report,
)
from opencode_orchestrator.core.missions.scopes import SessionScopes
from opencode_orchestrator.core.missions.views import goal_line, wire_state
from opencode_orchestrator.core.missions.wire import ProgressParams
from opencode_orchestrator.errors import OrchestratorError
from opencode_orchestrator.jsonrpc import ErrorCode, RpcError
from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.engine import MissionEngine, new_mission_id
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.opencode import OpenCodeClient

__all__ = ["MissionRegistry"]

_log = get_logger(__name__)

Opener = Callable[[], AbstractAsyncContextManager[MissionEngine]]


class MissionRegistry:
    """Starts, resumes, stops and finds the missions of this core process."""

    def __init__(self, notify: Notify) -> None:
        self.scopes = SessionScopes()
        self.target = OpenCodeTarget(None, None)
        self.on_engine: Callable[[MissionEngine], None] | None = None
        """Called with each engine before it runs (tests observe its journal with it)."""
        self.progress = ProgressSender(notify)
        self._missions: dict[str, RunningMission] = {}
        self._errors: dict[str, str] = {}
        self._clients: dict[Path, OpenCodeClient] = {}
        self._group: TaskGroup | None = None
        self._closing = False
        self._started = False
        self._stop_requested = anyio.Event()
        self._stopped = anyio.Event()

    # -- the task group ---------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Own the missions' task group until :meth:`stop` (or until cancelled)."""
        self._started = True
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                group.start_soon(self.progress.run)
                task_status.started()
                await self._stop_requested.wait()
                group.cancel_scope.cancel()
        finally:
            self._group = None
            self._closing = True
            self.progress.close()
            self._stopped.set()

    async def stop(self) -> None:
        """Stop every mission where it stands (resumable, not cancelled); close the clients."""
        self._closing = True
        if self._missions:
            _log.info("missions.stopping", missions=sorted(self._missions))
        self._stop_requested.set()
        if self._started:
            await self._stopped.wait()
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def spawn(self, func: Callable[[], Any], name: str) -> None:
        """Run ``func()`` (a coroutine function) in the missions' task group."""
        self._group_or_refuse().start_soon(func, name=name)

    def _group_or_refuse(self) -> TaskGroup:
        if self._closing or self._group is None:
            raise RpcError(ErrorCode.SHUTTING_DOWN, "the core is shutting down")
        return self._group

    # -- queries ----------------------------------------------------------------------

    def running(self, mission_id: str) -> RunningMission | None:
        """The mission if this core runs it (its journal open), else ``None``."""
        mission = self._missions.get(mission_id)
        return mission if mission is not None and mission.engine is not None else None

    def running_in(self, project: Path) -> list[RunningMission]:
        """The missions of ``project`` this core runs, oldest first."""
        found = [m for m in self._missions.values() if m.project == project and m.engine]
        return sorted(found, key=lambda m: (m.model.created_at if m.model else 0.0, m.mission_id))

    def reserved(self, mission_id: str) -> bool:
        """Whether this core runs ``mission_id`` or is opening its journal."""
        return mission_id in self._missions

    def error_of(self, mission_id: str) -> str | None:
        """Why the last run of ``mission_id`` in this core stopped early, if it did."""
        return self._errors.get(mission_id)

    def client(self, project: Path) -> OpenCodeClient:
        """The client of ``project`` (made on first need).

        Raises:
            NoOpenCodeServerError: ``initialize`` gave no ``serverUrl``.
        """
        client = self._clients.get(project)
        if client is None:
            client = self._clients[project] = self.target.client(project)
        return client

    # -- start and resume -------------------------------------------------------------

    async def start(
        self,
        project: Path,
        goal: str,
        *,
        parent_session: str | None = None,
        config: MissionConfig | None = None,
    ) -> RunningMission:
        """Create a mission and run it in the background; return once it is journaled.

        ``config`` (the caller's settings) replaces the project's configuration's
        mission settings; the WAL's durability is the configuration's either way.

        Raises:
            ConfigInvalidError, NoOpenCodeServerError, OpenCodeUnavailableError,
            CoreError; RpcError when the core is shutting down.
        """
        settings = await anyio.to_thread.run_sync(project_config, project)
        client = self.client(project)
        mission = RunningMission(new_mission_id(), project)

        def opener() -> AbstractAsyncContextManager[MissionEngine]:
            return MissionEngine.create(
                project,
                goal,
                client,
                config=config or settings.mission(),
                parent_session=parent_session,
                mission_id=mission.mission_id,
                durability=settings.wal.durability,
                sync_interval=settings.wal.sync_interval,
                log=settings.log,
            )

        await self._launch(mission, opener, f"Mission {mission.mission_id} started: {goal}")
        return mission

    async def resume(self, project: Path, mission_id: str) -> tuple[RunningMission, bool]:
        """Resume ``mission_id`` in the background; ``True`` if it was running here already.

        Raises:
            MissionNotFoundError, MissionEndedError, MissionLockedError,
            MissionUnreadableError, ConfigInvalidError, NoOpenCodeServerError;
            RpcError when shutting down.
        """
        existing = self._missions.get(mission_id)
        if existing is not None:
            return existing, True
        mission = RunningMission(mission_id, project)
        self._missions[mission_id] = mission  # reserved: a second resume is a no-op
        try:
            await anyio.to_thread.run_sync(check_resumable, project, mission_id)
            settings = await anyio.to_thread.run_sync(project_config, project)
            client = self.client(project)
        except BaseException:
            self._missions.pop(mission_id, None)
            raise

        def opener() -> AbstractAsyncContextManager[MissionEngine]:
            return MissionEngine.resume(
                project,
                mission_id,
                client,
                durability=settings.wal.durability,
                sync_interval=settings.wal.sync_interval,
                log=settings.log,
            )

        await self._launch(mission, opener, None)
        return mission, False

    async def _launch(self, mission: RunningMission, opener: Opener, started: str | None) -> None:
        mid = mission.mission_id
        self._missions[mid] = mission
        launched = False
        try:
            await self._group_or_refuse().start(self._run_mission, mission, opener, started)
            launched = True
        except Exception as exc:
            if self._closing:
                # Stopped before its journal was open (the task never said it started).
                raise RpcError(ErrorCode.SHUTTING_DOWN, "the core is shutting down") from exc
            translated = translate_open_error(exc, mid)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            if not launched and self._missions.get(mid) is mission:
                del self._missions[mid]

    async def _run_mission(
        self,
        mission: RunningMission,
        opener: Opener,
        started: str | None,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        mid = mission.mission_id
        opened = False
        try:
            async with opener() as engine:
                mission.engine = engine
                self._attach(mission, engine)
                opened = True
                self._errors.pop(mid, None)
                model = engine.ctx.model
                text = started or (
                    f"Mission {mid} resumed ({wire_state(model.state)}, "
                    f"{model.counts().get('verified', 0)} of {len(model.units)} units verified)"
                )
                self.progress.emit(
                    ProgressParams(
                        mission_id=mid, state=wire_state(model.state), text=text, level="info"
                    )
                )
                task_status.started()
                await self._follow(mission, engine)
        except anyio.get_cancelled_exc_class():
            if opened:
                _log.info("mission.stopped.resumable", mission=mid)
            raise
        except Exception as exc:
            if not opened:
                raise
            if mission.engine is not None and mission.engine.ctx.model.state.final:
                await self._ended(mission, mission.engine)  # ended, then something failed
            self._stopped_by(mission, exc)
        finally:
            if self._missions.get(mid) is mission:
                del self._missions[mid]
                self.progress.forget(mid)
            mission.done.set()

    def _attach(self, mission: RunningMission, engine: MissionEngine) -> None:
        model = engine.ctx.model
        self.scopes.add_model(model)

        def hook(record_type: str, data: dict[str, Any]) -> None:
            if record_type == RecordType.SESSION_CREATED:
                self.scopes.add_record(model, data)
            self.progress.observe(model, record_type, data)

        observe_journal(engine, hook)
        if self.on_engine is not None:
            self.on_engine(engine)

    async def _follow(self, mission: RunningMission, engine: MissionEngine) -> None:
        state = await engine.run()
        _log.info("mission.ended", mission=mission.mission_id, state=str(state))
        if state.final:
            self.scopes.forget_mission(mission.mission_id)
            await self._ended(mission, engine)

    async def _ended(self, mission: RunningMission, engine: MissionEngine) -> None:
        """Write the report of a mission that ended, then tell its end (saying where it is)."""
        html = await write_mission_report(mission.project, mission.mission_id)
        shown: str | None = None
        if html is not None:
            shown = (
                str(html.relative_to(mission.project))
                if html.is_relative_to(mission.project)
                else str(html)
            )
        self.progress.ended(engine.ctx.model, shown)

    def _stopped_by(self, mission: RunningMission, exc: Exception) -> None:
        mid = mission.mission_id
        if isinstance(exc, OrchestratorError):
            code = getattr(exc, "code", None)
            error = f"{exc} [{code}]" if code else str(exc)
            _log.warning("mission.stopped.error", mission=mid, error=error)
        else:
            error = f"internal error ({type(exc).__name__}); the core's log has the details"
            _log.exception("mission.stopped.bug", mission=mid)
        mission.error = self._errors[mid] = error
        state = mission.state
        self.progress.emit(
            ProgressParams(
                mission_id=mid,
                state=wire_state(state) if state is not None else "UNKNOWN",
                text=f"Mission {mid} stopped, resumable: {goal_line(error, 300)}",
                level="error",
            )
        )
