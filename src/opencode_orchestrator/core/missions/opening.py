"""Opening a mission in this core: where OpenCode is, and what can refuse the opening.

A mission's journal is opened by ``MissionEngine.create`` or ``.resume``;
what that can raise (the WAL locked by another process, damaged, no mission
journaled there, OpenCode refusing the mission's root session) is turned
into the core's domain errors here, so the shim gets a code it can act on.
The project's configuration (:func:`project_config`) is read here too: an
invalid one refuses the opening with its problems.
"""

from __future__ import annotations

from pathlib import Path

from opencode_orchestrator.config import (
    ConfigError,
    ConfigValueError,
    OrchestratorConfig,
    load_config,
)
from opencode_orchestrator.core.errors import (
    ConfigInvalidError,
    CoreError,
    MissionEndedError,
    MissionLockedError,
    MissionNotFoundError,
    MissionUnreadableError,
    NoOpenCodeServerError,
    OpenCodeUnavailableError,
)
from opencode_orchestrator.core.missions.views import read_entry, wire_state
from opencode_orchestrator.jsonrpc import RpcError
from opencode_orchestrator.mission.errors import MissionStateError
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.opencode.errors import OpenCodeError
from opencode_orchestrator.wal.errors import WalError, WalLockedError

__all__ = ["OpenCodeTarget", "check_resumable", "project_config", "translate_open_error"]


class OpenCodeTarget:
    """Where OpenCode runs, as ``initialize`` said (the password stays out of reprs)."""

    def __init__(self, server_url: str | None, password: str | None) -> None:
        self.server_url = server_url
        self._password = password

    def client(self, project: Path) -> OpenCodeClient:
        """A new, open client of the server for ``project``.

        Raises:
            NoOpenCodeServerError: ``initialize`` gave no ``serverUrl``.
        """
        if not self.server_url:
            raise NoOpenCodeServerError(
                "no OpenCode server: initialize gave no serverUrl, so no mission can run"
            )
        client = OpenCodeClient(self.server_url, password=self._password, directory=str(project))
        client.open()
        return client


def project_config(project: Path) -> OrchestratorConfig:
    """The configuration of ``project`` (blocking I/O: run it in a thread).

    Raises:
        ConfigInvalidError: a file cannot be read or parsed, or a key or value is refused.
    """
    try:
        return load_config(project).config
    except ConfigError as exc:
        problems = (
            [p.text for p in exc.problems] if isinstance(exc, ConfigValueError) else [str(exc)]
        )
        raise ConfigInvalidError(
            f"invalid configuration: {exc}",
            {"problems": problems, "configCode": exc.code},
        ) from None


def check_resumable(project: Path, mission_id: str) -> None:
    """Refuse a mission that does not exist or already ended (blocking I/O: a thread)."""
    _entry, model = read_entry(project, mission_id)
    if model.state.final:
        raise MissionEndedError(
            f"mission {mission_id} already ended {wire_state(model.state)}: nothing to resume",
            {"missionId": mission_id, "state": wire_state(model.state)},
        )


def translate_open_error(exc: Exception, mission_id: str) -> Exception:
    """An error raised while a mission's journal was opened, as the core's domain sees it."""
    if isinstance(exc, CoreError | RpcError):
        return exc
    if isinstance(exc, WalLockedError):
        holder = f"process {exc.holder_pid}" if exc.holder_pid is not None else "another process"
        return MissionLockedError(
            f"mission {mission_id} is running in {holder} (it holds the mission's WAL)",
            {"missionId": mission_id, "pid": exc.holder_pid},
        )
    if isinstance(exc, WalError):
        return MissionUnreadableError(
            f"mission {mission_id}: its WAL cannot be opened: {exc}",
            {"missionId": mission_id, "walCode": exc.code},
        )
    if isinstance(exc, MissionStateError):
        return MissionNotFoundError(str(exc), {"missionId": mission_id})
    if isinstance(exc, OpenCodeError):
        return OpenCodeUnavailableError(
            f"OpenCode did not accept the mission: {exc}", {"missionId": mission_id}
        )
    return exc
