"""A mission's budget: tokens, cost and wall time spent, against the caps it runs under.

A turn's usage is only known once it ends, yet many turns run at once. So a
turn *reserves* an estimate (``reserve_tokens``, ``reserve_cost``) before it
starts, and the reservation is refused when usage plus every outstanding
reservation would pass a cap; when the turn ends its reservation is settled
with the real numbers::

    reserve() ──► Reservation ──settle(tokens, cost)──► usage
                       └──────release()─────────────► nothing (the turn never ran)

Reservations only gate new turns: :meth:`Budget.exceeded` judges usage alone.
The snapshot (:meth:`Budget.to_dict`) holds usage and elapsed wall time, not
reservations: after a crash the turns in flight are started again, and reserve
again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from opencode_orchestrator.mission.config import BudgetConfig
from opencode_orchestrator.mission.errors import BudgetExceededError

__all__ = ["Budget", "BudgetRemaining", "BudgetUsage", "Reservation"]


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """What has been spent, and what outstanding reservations hold."""

    tokens: int
    cost: float
    elapsed: float
    """Wall seconds, including those before a resume."""
    reserved_tokens: int
    reserved_cost: float


@dataclass(frozen=True, slots=True)
class BudgetRemaining:
    """What is left under each cap after usage and reservations; ``None``: no cap."""

    tokens: int | None
    cost: float | None
    wall_seconds: float | None


class Reservation:
    """Budget held for one turn until its real usage is known."""

    __slots__ = ("_budget", "_open", "cost", "tokens")

    def __init__(self, budget: Budget, tokens: int, cost: float) -> None:
        self._budget = budget
        self._open = True
        self.tokens = tokens
        self.cost = cost

    @property
    def open(self) -> bool:
        """Whether the reservation still holds budget."""
        return self._open

    def settle(self, tokens: int, cost: float) -> bool:
        """Replace the reservation with the turn's real usage.

        Returns:
            True the first time; False, with no effect, once settled or released.
        """
        _check_amounts(tokens, cost)
        if not self._close():
            return False
        self._budget.add_usage(tokens, cost)
        return True

    def release(self) -> bool:
        """Drop the reservation without usage (the turn never ran).

        Returns:
            True the first time; False, with no effect, once settled or released.
        """
        return self._close()

    def _close(self) -> bool:
        if not self._open:
            return False
        self._open = False
        self._budget._unreserve(self)
        return True

    def __repr__(self) -> str:
        return f"Reservation(tokens={self.tokens}, cost={self.cost:g}, open={self._open})"


class Budget:
    """Usage and reservations against a :class:`BudgetConfig`'s caps."""

    def __init__(
        self,
        config: BudgetConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        used_tokens: int = 0,
        used_cost: float = 0.0,
        elapsed_before: float = 0.0,
    ) -> None:
        """Start counting wall time now, on top of ``elapsed_before`` (time before a resume)."""
        _check_amounts(used_tokens, used_cost)
        if not math.isfinite(elapsed_before) or elapsed_before < 0:
            raise ValueError(f"elapsed_before must not be negative, not {elapsed_before}")
        self.config = config
        self._clock = clock
        self._started = clock()
        self._elapsed_before = elapsed_before
        self._tokens = used_tokens
        self._cost = used_cost
        self._reserved_tokens = 0
        self._reserved_cost = 0.0
        self._open = 0
        self._unreserved: anyio.Event | None = None
        """Set when a reservation is settled or released (made by a waiting turn)."""

    def elapsed(self) -> float:
        """Wall seconds spent, including those before a resume."""
        return self._elapsed_before + (self._clock() - self._started)

    def reserve(self, tokens: int | None = None, cost: float | None = None) -> Reservation:
        """Hold budget for a turn about to start.

        Args:
            tokens: estimate; ``config.reserve_tokens`` when omitted.
            cost: estimate; ``config.reserve_cost`` when omitted.

        Raises:
            BudgetExceededError: usage plus outstanding reservations plus this one
                would pass a cap (``used`` counts all three), or the wall time is
                already past its cap.
        """
        tokens = self.config.reserve_tokens if tokens is None else tokens
        cost = self.config.reserve_cost if cost is None else cost
        _check_amounts(tokens, cost)
        config = self.config
        elapsed = self.elapsed()
        if config.max_wall_seconds is not None and elapsed > config.max_wall_seconds:
            raise BudgetExceededError("wall_time", elapsed, config.max_wall_seconds)
        would_tokens = self._tokens + self._reserved_tokens + tokens
        if config.max_tokens is not None and would_tokens > config.max_tokens:
            raise BudgetExceededError(
                "tokens", would_tokens, config.max_tokens, spent=self._tokens, reserve=tokens
            )
        would_cost = self._cost + self._reserved_cost + cost
        if config.max_cost is not None and would_cost > config.max_cost:
            raise BudgetExceededError(
                "cost", would_cost, config.max_cost, spent=self._cost, reserve=cost
            )
        self._reserved_tokens += tokens
        self._reserved_cost += cost
        self._open += 1
        return Reservation(self, tokens, cost)

    async def reserve_when_it_fits(
        self, tokens: int | None = None, cost: float | None = None
    ) -> Reservation:
        """:meth:`reserve`, waiting while only other turns' reservations stand in the way.

        Reservations are estimates: those of turns under way may settle for
        less, so a refused turn waits for them as long as usage alone is under
        every cap. It raises once nothing else is reserved and the estimate still
        does not fit, or a cap is passed.
        """
        while True:
            try:
                return self.reserve(tokens, cost)
            except BudgetExceededError:
                if self._open == 0 or self.exceeded() is not None:
                    raise
            if self._unreserved is None:
                self._unreserved = anyio.Event()
            await self._unreserved.wait()

    def add_usage(self, tokens: int, cost: float) -> None:
        """Count usage that no reservation covered (it may pass a cap; see :meth:`exceeded`)."""
        _check_amounts(tokens, cost)
        self._tokens += tokens
        self._cost += cost

    def exceeded(self) -> BudgetExceededError | None:
        """The first cap that usage alone (or wall time) has passed, or None."""
        config = self.config
        if config.max_tokens is not None and self._tokens > config.max_tokens:
            return BudgetExceededError("tokens", self._tokens, config.max_tokens)
        if config.max_cost is not None and self._cost > config.max_cost:
            return BudgetExceededError("cost", self._cost, config.max_cost)
        elapsed = self.elapsed()
        if config.max_wall_seconds is not None and elapsed > config.max_wall_seconds:
            return BudgetExceededError("wall_time", elapsed, config.max_wall_seconds)
        return None

    def usage(self) -> BudgetUsage:
        """What has been spent and what is reserved."""
        return BudgetUsage(
            tokens=self._tokens,
            cost=self._cost,
            elapsed=self.elapsed(),
            reserved_tokens=self._reserved_tokens,
            reserved_cost=self._reserved_cost,
        )

    def remaining(self) -> BudgetRemaining:
        """What new reservations may still take under each cap (never negative)."""
        config = self.config
        return BudgetRemaining(
            tokens=None
            if config.max_tokens is None
            else max(0, config.max_tokens - self._tokens - self._reserved_tokens),
            cost=None
            if config.max_cost is None
            else max(0.0, config.max_cost - self._cost - self._reserved_cost),
            wall_seconds=None
            if config.max_wall_seconds is None
            else max(0.0, config.max_wall_seconds - self.elapsed()),
        )

    def to_dict(self) -> dict[str, Any]:
        """Usage and elapsed wall time, for the mission's WAL snapshot."""
        return {"tokens": self._tokens, "cost": self._cost, "elapsed": self.elapsed()}

    @classmethod
    def from_dict(
        cls,
        config: BudgetConfig,
        data: Mapping[str, Any],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> Budget:
        """Rebuild a budget from :meth:`to_dict`; its wall time goes on from the snapshot's.

        Raises:
            ValueError: ``data`` lacks a field, or one has the wrong type or sign.
        """
        try:
            tokens, cost, elapsed = data["tokens"], data["cost"], data["elapsed"]
        except KeyError as exc:
            raise ValueError(f"budget snapshot lacks {exc.args[0]!r}") from None
        # bool is an int subclass; a snapshot holding True is corrupt, not 1 token.
        well_typed = (
            isinstance(tokens, int)
            and not isinstance(tokens, bool)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in (cost, elapsed))
        )
        if not well_typed:
            raise ValueError(f"budget snapshot is malformed: {dict(data)!r}")
        return cls(
            config,
            clock=clock,
            used_tokens=tokens,
            used_cost=float(cost),
            elapsed_before=float(elapsed),
        )

    def _unreserve(self, reservation: Reservation) -> None:
        if self._unreserved is not None:
            self._unreserved.set()
            self._unreserved = None
        self._open -= 1
        if self._open == 0:
            # Exact zero when nothing is outstanding, not float residue.
            self._reserved_tokens, self._reserved_cost = 0, 0.0
        else:
            self._reserved_tokens -= reservation.tokens
            self._reserved_cost -= reservation.cost


def _check_amounts(tokens: int, cost: float) -> None:
    # NaN would compare false against every cap and so never trip one.
    if tokens < 0 or not math.isfinite(cost) or cost < 0:
        raise ValueError(f"tokens and cost must not be negative, not {tokens} and {cost}")
