"""A simulated OpenCode 1.18.33 HTTP server with scripted agents and injectable faults.

``opencode-orchestrator sim-server`` runs it as a process; in tests::

    async with SimServer.running(state_dir, seed=7) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url) as client:
            ...
        await sim.restart()

See ``docs/simulator.md`` for what it serves and where it differs from OpenCode.
"""

from opencode_orchestrator.sim.config import (
    FaultConfig,
    LatencyConfig,
    PlannerConfig,
    PlanShape,
    ReviewerConfig,
    SimConfig,
    StormConfig,
    WorkerConfig,
    load_config,
)
from opencode_orchestrator.sim.errors import (
    SimBindError,
    SimConfigError,
    SimError,
    SimLifecycleError,
    SimStateError,
)
from opencode_orchestrator.sim.server import SimServer, SimServerState

__all__ = [
    "FaultConfig",
    "LatencyConfig",
    "PlanShape",
    "PlannerConfig",
    "ReviewerConfig",
    "SimBindError",
    "SimConfig",
    "SimConfigError",
    "SimError",
    "SimLifecycleError",
    "SimServer",
    "SimServerState",
    "SimStateError",
    "StormConfig",
    "WorkerConfig",
    "load_config",
]
