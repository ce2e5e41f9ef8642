"""The simulator's engine: sessions, turns, events and faults."""

from opencode_orchestrator.sim.engine.bus import EventBus
from opencode_orchestrator.sim.engine.faults import FaultInjector
from opencode_orchestrator.sim.engine.sessions import SessionHub

__all__ = ["EventBus", "FaultInjector", "SessionHub"]
