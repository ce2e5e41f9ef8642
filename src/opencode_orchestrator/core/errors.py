"""Domain errors of the core's mission methods, and the JSON-RPC codes they are sent with.

The tree, all of it below :class:`~opencode_orchestrator.errors.OrchestratorError`::

    CoreError                    -33000  CORE_ERROR            (the root; never raised itself)
    ├── MissionNotFoundError     -33001  MISSION_NOT_FOUND     no such mission in the directory,
    │                                                          or no unfinished one to resume
    ├── NoOpenCodeServerError    -33002  NO_OPENCODE_SERVER    initialize gave no serverUrl
    ├── MissionNotRunningError   -33003  MISSION_NOT_RUNNING   nothing to cancel: no mission runs,
    │                                                          or the one named already ended
    ├── AmbiguousMissionError    -33004  AMBIGUOUS_MISSION     no id given and several missions
    │                                                          qualify (``data.missionIds``)
    ├── MissionLockedError       -33005  MISSION_LOCKED        another process holds the mission's
    │                                                          WAL (``data.pid`` when known)
    ├── MissionEndedError        -33006  MISSION_ENDED         resume of a mission in a final state
    ├── MissionUnreadableError   -33007  MISSION_UNREADABLE    its WAL is damaged or from a
    │                                                          newer version
    ├── ProjectDirectoryError    -33008  PROJECT_DIRECTORY     no directory to work in, or not an
    │                                                          existing absolute directory
    ├── OpenCodeUnavailableError -33009  OPENCODE_UNAVAILABLE  OpenCode refused or did not answer
    │                                                          while a mission was being started
    └── ConfigInvalidError       -33010  CONFIG_INVALID        the project's configuration cannot
                                                               be read or is invalid (each
                                                               problem in ``data.problems``)

Codes are part of the protocol (``docs/protocol.md``); a handler turns a
:class:`CoreError` into its JSON-RPC error object with :meth:`CoreError.to_rpc`.
Messages are one line, for a person: the shim shows them as they are.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

from opencode_orchestrator.errors import OrchestratorError
from opencode_orchestrator.jsonrpc import RpcError

__all__ = [
    "AmbiguousMissionError",
    "ConfigInvalidError",
    "CoreError",
    "CoreErrorCode",
    "MissionEndedError",
    "MissionLockedError",
    "MissionNotFoundError",
    "MissionNotRunningError",
    "MissionUnreadableError",
    "NoOpenCodeServerError",
    "OpenCodeUnavailableError",
    "ProjectDirectoryError",
]


class CoreErrorCode(IntEnum):
    """The core's domain error codes, in JSON-RPC's range reserved for them."""

    CORE_ERROR = -33000
    MISSION_NOT_FOUND = -33001
    NO_OPENCODE_SERVER = -33002
    MISSION_NOT_RUNNING = -33003
    AMBIGUOUS_MISSION = -33004
    MISSION_LOCKED = -33005
    MISSION_ENDED = -33006
    MISSION_UNREADABLE = -33007
    PROJECT_DIRECTORY = -33008
    OPENCODE_UNAVAILABLE = -33009
    CONFIG_INVALID = -33010


class CoreError(OrchestratorError):
    """Root of the core's domain errors; ``data`` goes on the wire with the message."""

    code: ClassVar[CoreErrorCode] = CoreErrorCode.CORE_ERROR

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def to_rpc(self) -> RpcError:
        """The JSON-RPC error this is answered with."""
        return RpcError(int(self.code), self.message, self.data)


class MissionNotFoundError(CoreError):
    """No mission with that id in the directory (or no unfinished one, for resume)."""

    code = CoreErrorCode.MISSION_NOT_FOUND


class NoOpenCodeServerError(CoreError):
    """``initialize`` gave no ``serverUrl``: no mission can run."""

    code = CoreErrorCode.NO_OPENCODE_SERVER


class MissionNotRunningError(CoreError):
    """Nothing to cancel: no mission runs, or the one named already ended."""

    code = CoreErrorCode.MISSION_NOT_RUNNING


class AmbiguousMissionError(CoreError):
    """No mission id was given and several missions qualify; ``data.missionIds`` names them."""

    code = CoreErrorCode.AMBIGUOUS_MISSION


class MissionLockedError(CoreError):
    """Another process holds the mission's WAL (it runs the mission)."""

    code = CoreErrorCode.MISSION_LOCKED


class MissionEndedError(CoreError):
    """The mission is in a final state: there is nothing to resume."""

    code = CoreErrorCode.MISSION_ENDED


class MissionUnreadableError(CoreError):
    """The mission's WAL is damaged or was written by a newer version."""

    code = CoreErrorCode.MISSION_UNREADABLE


class ProjectDirectoryError(CoreError):
    """No directory to work in, or it is not an existing absolute directory."""

    code = CoreErrorCode.PROJECT_DIRECTORY


class OpenCodeUnavailableError(CoreError):
    """OpenCode refused or did not answer while a mission was being started."""

    code = CoreErrorCode.OPENCODE_UNAVAILABLE


class ConfigInvalidError(CoreError):
    """The project's configuration cannot be read or is invalid: no mission can start."""

    code = CoreErrorCode.CONFIG_INVALID
