"""Errors of the simulated OpenCode server, each with a stable string ``code``.

The tree, all of it below :class:`~opencode_orchestrator.errors.OrchestratorError`::

    SimError                  sim
    ├── SimBindError          sim.bind        a non-loopback host was asked for
    ├── SimConfigError        sim.config      a fault/agent config file or object is invalid
    ├── SimLifecycleError     sim.lifecycle   started twice, restarted while stopped, ...
    └── SimStateError         sim.state       the state directory cannot be opened

Codes are part of the public contract (logs and CLI output show them);
renaming one is a breaking change.
"""

from __future__ import annotations

from typing import ClassVar

from opencode_orchestrator.errors import OrchestratorError

__all__ = ["SimBindError", "SimConfigError", "SimError", "SimLifecycleError", "SimStateError"]


class SimError(OrchestratorError):
    """Root of every simulator error."""

    code: ClassVar[str] = "sim"


class SimBindError(SimError):
    """The simulator only listens on loopback; another host was asked for."""

    code: ClassVar[str] = "sim.bind"

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(
            f"refusing to bind {host!r}: the simulator listens on loopback only "
            "(127.0.0.1, ::1 or localhost)"
        )


class SimConfigError(SimError):
    """A simulator configuration (file, flags or control-API body) is invalid."""

    code: ClassVar[str] = "sim.config"


class SimLifecycleError(SimError):
    """An operation that the simulator's current lifecycle state does not allow."""

    code: ClassVar[str] = "sim.lifecycle"


class SimStateError(SimError):
    """The state directory (sqlite database) cannot be opened or read."""

    code: ClassVar[str] = "sim.state"
