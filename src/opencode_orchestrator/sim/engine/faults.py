"""Random fault injection: which turns fail, when a 429 storm rages, which streams drop.

Draws come from one generator seeded with the run's seed, in the order turns
and requests arrive: a sequential test sees the same faults on every run.
Faults a prompt asks for explicitly (``@script``) are the agent's business;
this module only adds the random ones configured in :class:`FaultConfig`.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

from opencode_orchestrator.sim.agents.base import TurnScript
from opencode_orchestrator.sim.config import FaultConfig, SimConfig
from opencode_orchestrator.testing.script import Fault

__all__ = ["FaultInjector"]


class FaultInjector:
    """The faults in force now, and the seeded draws that apply them."""

    def __init__(self, config: SimConfig) -> None:
        self._rng = random.Random(f"{config.seed}:faults")  # noqa: S311 - simulation, not crypto
        self._faults = config.faults
        self._storm_until = 0.0
        self._arm_storm()

    @property
    def faults(self) -> FaultConfig:
        """The fault configuration in force."""
        return self._faults

    def update(self, faults: FaultConfig) -> None:
        """Replace the configuration; a storm in it starts now."""
        self._faults = faults
        self._arm_storm()

    def _arm_storm(self) -> None:
        storm = self._faults.storm
        self._storm_until = time.monotonic() + storm.duration if storm is not None else 0.0

    def storm_retry_after(self) -> int | None:
        """Seconds for ``Retry-After`` if this request is refused by the storm, else ``None``."""
        storm = self._faults.storm
        if storm is None or time.monotonic() >= self._storm_until:
            return None
        return storm.retry_after if self._rng.random() < storm.share else None

    def storm_active(self) -> bool:
        """Whether a 429 storm is raging (turns then see provider rate limits too)."""
        return self._faults.storm is not None and time.monotonic() < self._storm_until

    def stream_cut(self, events: int) -> int | None:
        """Of ``events`` events a stream is about to write, the first it ends at instead.

        One draw per event, in order, until one cuts; ``None`` when none does.
        """
        rate = self._faults.stream_drop_rate
        if rate > 0:
            for index in range(events):
                if self._rng.random() < rate:
                    return index
        return None

    def apply(self, script: TurnScript) -> TurnScript:
        """``script`` with at most one random fault added (an explicit one is kept)."""
        if script.fault is not None or script.error is not None:
            return script
        faults = self._faults
        draws: list[tuple[float, Fault | None]] = [
            (faults.api_error_rate, Fault.API_ERROR),
            (faults.die_rate, Fault.DIE),
            (faults.context_overflow_rate, Fault.CONTEXT_OVERFLOW),
            (faults.rate_limit_rate, Fault.RATE_LIMIT),
            (faults.hang_rate, None),
        ]
        for rate, fault in draws:
            if rate > 0 and self._rng.random() < rate:
                if fault is None:
                    return replace(script, hang=True)
                return replace(script, fault=fault, fault_count=faults.rate_limit_attempts)
        if self.storm_active():
            return replace(script, fault=Fault.RATE_LIMIT, fault_count=faults.rate_limit_attempts)
        return script
