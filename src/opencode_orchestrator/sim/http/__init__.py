"""The HTTP face of the simulator: OpenCode's routes, the event streams, the control API."""

from opencode_orchestrator.sim.http.app import build_app
from opencode_orchestrator.sim.http.context import SimContext

__all__ = ["SimContext", "build_app"]
