"""Durable state of the simulator and the JSON documents it is made of."""

from opencode_orchestrator.sim.state.store import SimStore

__all__ = ["SimStore"]
