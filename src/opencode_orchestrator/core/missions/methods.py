"""The mission methods on the wire: ``mission/*``, ``scope/check`` and ``agents/list``.

Parameters are validated by their models (``-32602``); a domain refusal is a
:class:`~opencode_orchestrator.core.errors.CoreError`, answered with its code
in ``-33000..-33999``. ``scope/check`` is a plain function, answered inline
by the reader: a dictionary lookup and some string work, no I/O.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import anyio

from opencode_orchestrator.core.errors import CoreError, ProjectDirectoryError
from opencode_orchestrator.core.methods import InitializeParams
from opencode_orchestrator.core.missions import control
from opencode_orchestrator.core.missions.foreign import JournalScopes, project_of
from opencode_orchestrator.core.missions.opening import OpenCodeTarget
from opencode_orchestrator.core.missions.registry import MissionRegistry
from opencode_orchestrator.core.missions.views import wire_state
from opencode_orchestrator.core.missions.wire import (
    AgentsResult,
    MissionActionResult,
    MissionParams,
    ScopeCheckParams,
    StartParams,
    StartResult,
    StatusParams,
    StatusResult,
)
from opencode_orchestrator.jsonrpc import Endpoint, RpcError
from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.prompts.loader import agent_definitions
from opencode_orchestrator.mission.store import running_elsewhere

__all__ = ["MISSION_METHODS", "MissionMethods"]

MISSION_METHODS: Final = (
    "mission/start",
    "mission/status",
    "mission/cancel",
    "mission/resume",
    "scope/check",
    "agents/list",
)

_log = get_logger(__name__)


def _absolute(directory: str) -> Path:
    """``directory`` normalised (lexically: no I/O, no symbolic links followed)."""
    if not os.path.isabs(directory):
        raise ProjectDirectoryError(f"the project directory must be absolute: {directory}")
    return Path(os.path.normpath(directory))


@contextmanager
def _answered(method: str) -> Iterator[None]:
    """Answer a domain refusal with its code (and log it: it is not an error of ours)."""
    try:
        yield
    except CoreError as exc:
        _log.info("mission.method.refused", method=method, code=int(exc.code), error=exc.message)
        raise exc.to_rpc() from None


class MissionMethods:
    """Handlers of the mission methods over one :class:`MissionRegistry`."""

    def __init__(
        self, registry: MissionRegistry, session: Callable[[], InitializeParams | None]
    ) -> None:
        self.registry = registry
        self._session = session
        self._auto_resumed = False
        self._journals: JournalScopes | None = None

    def register(self, endpoint: Endpoint) -> None:
        """Register every mission method on ``endpoint``."""
        endpoint.method("mission/start", StartParams)(self.start)
        endpoint.method("mission/status", StatusParams)(self.status)
        endpoint.method("mission/cancel", MissionParams)(self.cancel)
        endpoint.method("mission/resume", MissionParams)(self.resume)
        endpoint.method("scope/check", ScopeCheckParams)(self.scope_check)
        endpoint.method("agents/list")(self.agents)

    # -- session ------------------------------------------------------------------------

    def on_initialize(self, params: InitializeParams) -> None:
        """Remember where OpenCode runs (missions connect on first need)."""
        password = params.password.get_secret_value() if params.password is not None else None
        self.registry.target = OpenCodeTarget(params.server_url, password)

    def ensure_auto_resume(self) -> None:
        """Once per session: resume the directory's unfinished missions in the background."""
        if self._auto_resumed:
            return
        self._auto_resumed = True
        session = self._session()
        if session is None or not session.auto_resume:
            return
        if not session.server_url or not session.directory:
            _log.info("missions.auto_resume.skipped", reason="no serverUrl or directory")
            return
        try:
            project = _absolute(session.directory)
        except ProjectDirectoryError as exc:
            _log.warning("missions.auto_resume.skipped", reason=exc.message)
            return
        try:
            self.registry.spawn(lambda: control.auto_resume(self.registry, project), "auto-resume")
        except RpcError as exc:
            _log.info("missions.auto_resume.skipped", reason=exc.message)

    async def _project(self, directory: str | None) -> Path:
        session = self._session()
        chosen = directory or (session.directory if session is not None else None)
        if not chosen:
            raise ProjectDirectoryError(
                "no project directory: initialize gave none and the call names none"
            )
        project = _absolute(chosen)
        if not await anyio.Path(project).is_dir():
            raise ProjectDirectoryError(f"the project directory does not exist: {project}")
        return project

    def _journal_scopes(self) -> JournalScopes | None:
        """The scopes read from the project's journals (``None``: no project is known)."""
        session = self._session()
        if session is None or not session.directory or not os.path.isabs(session.directory):
            return None
        project = project_of(session.directory)
        if self._journals is None or self._journals.project != project:
            self._journals = JournalScopes(project, runs_here=self.registry.reserved)
        return self._journals

    # -- methods ------------------------------------------------------------------------

    async def start(self, params: StartParams) -> StartResult:
        """``mission/start``: journal a new mission and run it in the background."""
        with _answered("mission/start"):
            self.ensure_auto_resume()
            project = await self._project(params.directory)
            mission = await self.registry.start(
                project,
                params.goal,
                parent_session=params.parent_session_id,
                config=params.config,
            )
            state = mission.state
            message = f"Mission {mission.mission_id} started: {params.goal}"
            # This core's missions share file scopes; another process's do not.
            for other, pid in await anyio.to_thread.run_sync(running_elsewhere, project):
                message += (
                    f"\nWarning: mission {other} is running in this project in another "
                    f"process (pid {pid}); missions of different processes do not share file "
                    "scopes, so units of both may change the same files at once."
                )
            return StartResult(
                mission_id=mission.mission_id,
                state=wire_state(state) if state is not None else "PLANNING",
                directory=str(project),
                message=message,
            )

    async def status(self, params: StatusParams) -> StatusResult:
        """``mission/status``: one mission, or the directory's newest ones."""
        with _answered("mission/status"):
            self.ensure_auto_resume()
            project = await self._project(params.directory)
            return await control.status(
                self.registry, project, params.mission_id, params.session_id
            )

    async def cancel(self, params: MissionParams) -> MissionActionResult:
        """``mission/cancel``: stop a mission the orderly way; it ends CANCELLED."""
        with _answered("mission/cancel"):
            self.ensure_auto_resume()
            project = await self._project(params.directory)
            return await control.cancel(self.registry, project, params.mission_id)

    async def resume(self, params: MissionParams) -> MissionActionResult:
        """``mission/resume``: carry on a mission that stopped."""
        with _answered("mission/resume"):
            self.ensure_auto_resume()
            project = await self._project(params.directory)
            return await control.resume(self.registry, project, params.mission_id)

    async def scope_check(self, params: ScopeCheckParams) -> dict[str, Any]:
        """``scope/check``: from memory for this core's missions (optional fields left out).

        A session none of them knows is looked up in the journals of the
        missions other processes run in the project (:mod:`.foreign`).
        """
        verdict = self.registry.scopes.check(params.session_id, params.tool, params.paths)
        if verdict.mission_id is None:
            journals = self._journal_scopes()
            if journals is not None:
                verdict = await journals.check(params.session_id, params.tool, params.paths)
        if not verdict.allowed:
            _log.info(
                "scope.refused",
                session=params.session_id,
                tool=params.tool,
                mission=verdict.mission_id,
                unit=verdict.unit_id,
            )
        return verdict.model_dump(mode="json", by_alias=True, exclude_none=True)

    async def agents(self, _params: Any) -> AgentsResult:
        """``agents/list``: the four mission agents (their prompts are package files)."""
        return AgentsResult(agents=await anyio.to_thread.run_sync(agent_definitions))
