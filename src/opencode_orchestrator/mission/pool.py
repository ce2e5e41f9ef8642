"""Admission control for the worker pool: which child session may start, and when.

A session starts only when three gates all have room: the global limit
(``limits.concurrency``, changed at run time with :meth:`AdaptivePool.set_limit`),
its provider's limit and its ``provider/model`` limit (``limits.per_model``,
when set). The provider's limit adapts (AIMD): a rate-limit signal multiplies
it by ``adaptive.decrease_factor``, a run of successes adds one back. Limits
only gate admissions: lowering one never stops work already running.

Waiters are served highest priority first, FIFO among equals, but a waiter
whose provider (or model) is saturated does not hold up waiters for others.
Waiters that face the same gates (same provider and model) form a *group* with
a heap of its own; only each group's head is a candidate in the pool's heap, so
a pass pops past at most one entry per saturated group::

    candidates (heap of group heads) ──pop──► its gates have room? ──yes──► grant
                                                      │ no
                                                      └──► set aside until the pass ends

Deletion is lazy: a cancelled waiter, or a head displaced by a better
newcomer, stays in a heap until it surfaces (or the heap is compacted).
Capacity is counted when a waiter is granted, not when its task resumes, so a
release hands the slot over without a window for a newcomer to take it.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

import anyio
import anyio.lowlevel

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.config import AdaptiveConfig, LimitsConfig

__all__ = ["DEFAULT_PROVIDER_KEY", "AdaptivePool", "PoolStats", "Slot"]

_log = get_logger(__name__)

DEFAULT_PROVIDER_KEY: Final = ""
"""Key in :attr:`PoolStats.provider_limits` for work acquired without a provider."""

_COMPACT_SLACK: Final = 64
"""Stale heap entries tolerated beyond twice the live ones before a rebuild."""


class _State(enum.Enum):
    WAITING = enum.auto()
    GRANTED = enum.auto()
    CANCELLED = enum.auto()


# (-priority, arrival number, waiter): the arrival number is unique, so the
# waiter itself is never compared.
_Entry = tuple[float, int, "_Waiter"]


@dataclass(eq=False, slots=True)
class _Group:
    key: tuple[str | None, str | None]
    provider: str | None
    model_key: str | None
    heap: list[_Entry] = field(default_factory=list)
    live: int = 0


@dataclass(eq=False, slots=True)
class _Waiter:
    group: _Group
    event: anyio.Event
    entry: _Entry | None = None
    state: _State = _State.WAITING
    in_top: bool = False


@dataclass(slots=True)
class _Aimd:
    """A provider's adaptive limit; it exists only while below its ceiling."""

    limit: int
    successes: int = 0
    decreased_at: float | None = None


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of the pool's counters."""

    in_use: int
    waiting: int
    peak_in_use: int
    acquired: int
    released: int
    limit: int
    provider_limits: dict[str, int]
    """Effective limit per provider that has one (:data:`DEFAULT_PROVIDER_KEY` for none)."""


class Slot:
    """Permission for one session to run; release it exactly once."""

    __slots__ = ("_model_key", "_pool", "_released", "key", "model", "provider")

    def __init__(
        self,
        pool: AdaptivePool,
        key: str,
        provider: str | None,
        model: str | None,
        model_key: str | None,
    ) -> None:
        self._pool = pool
        self._model_key = model_key
        self._released = False
        self.key = key
        self.provider = provider
        self.model = model

    @property
    def released(self) -> bool:
        """Whether the slot's capacity has been given back."""
        return self._released

    def release(self) -> bool:
        """Give the capacity back; True the first time, False (and no effect) after."""
        if self._released:
            return False
        self._released = True
        self._pool._free(self.provider, self._model_key)
        return True

    async def __aenter__(self) -> Slot:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Slot(key={self.key!r}, provider={self.provider!r}, released={self._released})"


class AdaptivePool:
    """Global, per-provider and per-model concurrency limits with priority admission."""

    def __init__(
        self,
        limits: LimitsConfig,
        adaptive: AdaptiveConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = limits
        self._adaptive_config = adaptive
        self._clock = clock
        self._limit = limits.concurrency
        self._aimd: dict[str | None, _Aimd] = {}
        self._in_use = 0
        self._provider_in_use: dict[str | None, int] = {}
        self._model_in_use: dict[str, int] = {}
        self._groups: dict[tuple[str | None, str | None], _Group] = {}
        self._top: list[_Entry] = []
        self._arrivals = itertools.count()
        self._waiting = 0
        self._peak = 0
        self._acquired = 0
        self._released = 0

    async def acquire(
        self,
        key: str,
        *,
        priority: float = 0.0,
        provider: str | None = None,
        model: str | None = None,
    ) -> Slot:
        """Wait until every gate has room for ``provider``/``model``, then take a slot.

        Args:
            key: what the slot is for (a unit id); kept on the slot for logs.
            priority: higher goes first; equal priorities go in arrival order.
            provider: gates on ``limits.per_model[provider]`` and its adaptive limit.
            model: with ``provider``, gates on ``limits.per_model["provider/model"]``.

        Raises:
            ValueError: ``priority`` is NaN (it would corrupt the heap order).
        """
        if math.isnan(priority):
            raise ValueError("priority must not be NaN")
        await anyio.lowlevel.checkpoint_if_cancelled()
        model_key = f"{provider}/{model}" if provider is not None and model is not None else None
        group_key = (provider, model)
        group = self._groups.get(group_key)
        # After every change no waiter is admissible, so when this group has no
        # waiters and the gates have room, starting now overtakes nobody.
        if group is None and self._in_use < self._limit and self._has_room(provider, model_key):
            self._count(provider, model_key, +1)
        else:
            if group is None:
                group = self._groups[group_key] = _Group(group_key, provider, model_key)
            waiter = _Waiter(group, anyio.Event())
            waiter.entry = (-priority, next(self._arrivals), waiter)
            heapq.heappush(group.heap, waiter.entry)
            group.live += 1
            self._waiting += 1
            if group.heap[0] is waiter.entry:
                self._offer(waiter)
            try:
                await waiter.event.wait()
            except BaseException:
                self._abandon(waiter)
                raise
        self._acquired += 1
        return Slot(self, key, provider, model, model_key)

    def set_limit(self, limit: int) -> None:
        """Change the global limit; raising it starts queued work at once."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        old, self._limit = self._limit, limit
        if limit > old:
            _log.info("pool.limit_increased", scope="global", old=old, new=limit)
            self._dispatch()
        elif limit < old:
            _log.info("pool.limit_decreased", scope="global", old=old, new=limit)

    def on_rate_limited(self, provider: str | None) -> None:
        """A session of ``provider`` was rate limited: cut its limit (once per cooldown).

        ``None`` stands for work acquired without a provider (the server's
        default model): it is one bucket, limited like a provider.
        """
        state = self._aimd.get(provider)
        if state is None:
            state = self._aimd[provider] = _Aimd(self._ceiling(provider))
        # Successes only count towards growth when no signal came in between.
        state.successes = 0
        now = self._clock()
        config = self._adaptive_config
        if state.decreased_at is not None and now - state.decreased_at < config.cooldown:
            return
        new = max(config.minimum, math.floor(state.limit * config.decrease_factor))
        if new >= state.limit:
            return
        old, state.limit, state.decreased_at = state.limit, new, now
        _log.warning("pool.limit_decreased", scope="provider", provider=provider, old=old, new=new)

    def on_success(self, provider: str | None) -> None:
        """A session of ``provider`` ended well: after enough of them, raise its limit by one."""
        state = self._aimd.get(provider)
        if state is None:
            return
        state.successes += 1
        if state.successes < self._adaptive_config.increase_after:
            return
        state.successes = 0
        ceiling = self._ceiling(provider)
        raised = state.limit < ceiling
        if raised:
            old = state.limit
            state.limit += 1
            _log.info(
                "pool.limit_increased", scope="provider", provider=provider, old=old, new=old + 1
            )
        if state.limit >= ceiling:
            # Back at the configured limit: forget the state, so a provider
            # without its own limit follows the global one again.
            del self._aimd[provider]
        if raised:
            self._dispatch()

    def stats(self) -> PoolStats:
        """The pool's counters and its current limits."""
        provider_limits = {k: v for k, v in self._limits.per_model.items() if "/" not in k}
        for provider, state in self._aimd.items():
            provider_limits[DEFAULT_PROVIDER_KEY if provider is None else provider] = state.limit
        return PoolStats(
            in_use=self._in_use,
            waiting=self._waiting,
            peak_in_use=self._peak,
            acquired=self._acquired,
            released=self._released,
            limit=self._limit,
            provider_limits=provider_limits,
        )

    def _ceiling(self, provider: str | None) -> int:
        configured = self._limits.per_model.get(provider) if provider is not None else None
        return self._limit if configured is None else configured

    def _has_room(self, provider: str | None, model_key: str | None) -> bool:
        state = self._aimd.get(provider)
        if state is not None:
            limit: int | None = state.limit
        else:
            limit = self._limits.per_model.get(provider) if provider is not None else None
        if limit is not None and self._provider_in_use.get(provider, 0) >= limit:
            return False
        if model_key is not None:
            model_limit = self._limits.per_model.get(model_key)
            if model_limit is not None and self._model_in_use.get(model_key, 0) >= model_limit:
                return False
        return True

    def _count(self, provider: str | None, model_key: str | None, delta: int) -> None:
        self._in_use += delta
        self._peak = max(self._peak, self._in_use)
        in_use = self._provider_in_use.get(provider, 0) + delta
        if in_use:
            self._provider_in_use[provider] = in_use
        else:
            del self._provider_in_use[provider]
        if model_key is not None:
            in_use = self._model_in_use.get(model_key, 0) + delta
            if in_use:
                self._model_in_use[model_key] = in_use
            else:
                del self._model_in_use[model_key]

    def _free(self, provider: str | None, model_key: str | None) -> None:
        self._count(provider, model_key, -1)
        self._released += 1
        self._dispatch()

    def _offer(self, waiter: _Waiter) -> None:
        """Make ``waiter`` (its group's head) a candidate, unless it already is."""
        if not waiter.in_top and waiter.entry is not None:
            waiter.in_top = True
            heapq.heappush(self._top, waiter.entry)

    def _dispatch(self) -> None:
        """Grant waiters, best first, while the global limit has room."""
        aside: list[_Entry] = []
        while self._top and self._in_use < self._limit:
            entry = heapq.heappop(self._top)
            waiter = entry[2]
            group = waiter.group
            if waiter.state is not _State.WAITING or group.heap[0] is not entry:
                waiter.in_top = False  # stale: cancelled, or no longer its group's head
                continue
            if not self._has_room(group.provider, group.model_key):
                aside.append(entry)
                continue
            waiter.in_top = False
            heapq.heappop(group.heap)
            waiter.state = _State.GRANTED
            group.live -= 1
            self._waiting -= 1
            self._count(group.provider, group.model_key, +1)
            waiter.event.set()
            self._settle_head(group)
        for entry in aside:
            heapq.heappush(self._top, entry)

    def _settle_head(self, group: _Group) -> None:
        """Drop finished entries off the group's top; offer its new head or forget the group."""
        heap = group.heap
        while heap and heap[0][2].state is not _State.WAITING:
            heapq.heappop(heap)
        if heap:
            self._offer(heap[0][2])
        else:
            del self._groups[group.key]

    def _abandon(self, waiter: _Waiter) -> None:
        """The waiting task was cancelled (or failed): give back whatever it held."""
        group = waiter.group
        if waiter.state is _State.GRANTED:
            # Granted, but cancelled before it could resume: the capacity goes
            # to the next waiter rather than being lost.
            self._count(group.provider, group.model_key, -1)
            self._dispatch()
            return
        waiter.state = _State.CANCELLED
        group.live -= 1
        self._waiting -= 1
        # Nothing is freed, so no one else becomes admissible: no dispatch.
        if group.heap[0] is waiter.entry:
            self._settle_head(group)
        elif len(group.heap) > 2 * group.live + _COMPACT_SLACK:
            group.heap = [e for e in group.heap if e[2].state is _State.WAITING]
            heapq.heapify(group.heap)
        if len(self._top) > 2 * self._waiting + _COMPACT_SLACK:
            self._compact_top()

    def _compact_top(self) -> None:
        kept: list[_Entry] = []
        for entry in self._top:
            waiter = entry[2]
            if waiter.state is _State.WAITING and waiter.group.heap[0] is entry:
                kept.append(entry)
            else:
                waiter.in_top = False
        heapq.heapify(kept)
        self._top = kept
