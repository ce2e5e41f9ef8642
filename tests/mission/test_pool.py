from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
from structlog.testing import capture_logs

from opencode_orchestrator.mission.config import AdaptiveConfig, LimitsConfig
from opencode_orchestrator.mission.pool import AdaptivePool, Slot


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_pool(
    concurrency: int = 1,
    per_model: dict[str, int] | None = None,
    clock: Callable[[], float] | None = None,
    **adaptive: Any,
) -> AdaptivePool:
    limits = LimitsConfig(concurrency=concurrency, per_model=per_model or {})
    config = AdaptiveConfig(**adaptive)
    if clock is None:
        return AdaptivePool(limits, config)
    return AdaptivePool(limits, config, clock=clock)


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds (bounded: a hang fails the test)."""
    with anyio.fail_after(10):
        while not condition():
            await anyio.lowlevel.checkpoint()


class Queue:
    """Waiters started one at a time, so their arrival order is known."""

    def __init__(self, pool: AdaptivePool, tg: anyio.abc.TaskGroup) -> None:
        self.pool = pool
        self.tg = tg
        self.granted: list[str] = []
        self.slots: dict[str, Slot] = {}
        self.scopes: dict[str, anyio.CancelScope] = {}

    async def add(
        self,
        key: str,
        *,
        priority: float = 0.0,
        provider: str | None = None,
        model: str | None = None,
        hold: bool = False,
    ) -> None:
        waiting = self.pool.stats().waiting
        self.tg.start_soon(self._run, key, priority, provider, model, hold)
        await until(lambda: self.pool.stats().waiting == waiting + 1)

    async def _run(
        self, key: str, priority: float, provider: str | None, model: str | None, hold: bool
    ) -> None:
        with anyio.CancelScope() as scope:
            self.scopes[key] = scope
            slot = await self.pool.acquire(key, priority=priority, provider=provider, model=model)
            self.granted.append(key)
            if hold:
                self.slots[key] = slot
            else:
                slot.release()


@pytest.mark.anyio
async def test_acquire_within_the_limit_does_not_wait() -> None:
    pool = make_pool(concurrency=2)
    first = await pool.acquire("a")
    second = await pool.acquire("b", provider="anthropic", model="opus")
    assert (first.key, first.provider) == ("a", None)
    assert (second.key, second.provider, second.model) == ("b", "anthropic", "opus")
    stats = pool.stats()
    assert (stats.in_use, stats.waiting, stats.acquired, stats.peak_in_use) == (2, 0, 2, 2)
    with pytest.raises(ValueError, match="NaN"):
        await pool.acquire("c", priority=float("nan"))


@pytest.mark.anyio
async def test_highest_priority_first_fifo_among_equals() -> None:
    pool = make_pool(concurrency=1)
    held = await pool.acquire("held")
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        for key, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", 1), ("f", -1)]:
            await queue.add(key, priority=priority)
        held.release()
    assert queue.granted == ["b", "d", "e", "a", "c", "f"]
    assert pool.stats().in_use == 0


@pytest.mark.anyio
async def test_provider_limit_gates_without_blocking_other_providers() -> None:
    pool = make_pool(concurrency=3, per_model={"anthropic": 1})
    anthropic = await pool.acquire("a1", provider="anthropic")
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        await queue.add("a2", provider="anthropic", priority=10, hold=True)
        # The saturated provider's waiter, though first and higher, holds up no one.
        openai = await pool.acquire("o1", provider="openai")
        assert pool.stats().in_use == 2
        anthropic.release()
        await until(lambda: queue.granted == ["a2"])
        openai.release()
        queue.slots["a2"].release()
    assert pool.stats().in_use == 0


@pytest.mark.anyio
async def test_freed_global_slot_skips_a_saturated_provider() -> None:
    pool = make_pool(concurrency=2, per_model={"anthropic": 1})
    anthropic = await pool.acquire("a1", provider="anthropic")
    openai = await pool.acquire("o1", provider="openai")
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        await queue.add("a2", provider="anthropic", priority=10, hold=True)
        await queue.add("o2", provider="openai", hold=True)
        await queue.add("x", hold=True)
        openai.release()
        await until(lambda: queue.granted == ["o2"])
        assert pool.stats().waiting == 2
        anthropic.release()
        await until(lambda: queue.granted == ["o2", "a2"])
        queue.slots["o2"].release()
        await until(lambda: queue.granted == ["o2", "a2", "x"])
        for slot in queue.slots.values():
            slot.release()
    assert pool.stats().in_use == 0


@pytest.mark.anyio
async def test_provider_model_limit() -> None:
    pool = make_pool(concurrency=4, per_model={"anthropic/opus": 1})
    opus = await pool.acquire("u1", provider="anthropic", model="opus")
    sonnet = await pool.acquire("u2", provider="anthropic", model="sonnet")
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        await queue.add("u3", provider="anthropic", model="opus")
        sonnet.release()
        assert queue.granted == []
        assert pool.stats().waiting == 1
        opus.release()
    assert queue.granted == ["u3"]


@pytest.mark.anyio
async def test_cancelled_waiter_leaves_cleanly() -> None:
    pool = make_pool(concurrency=1)
    held = await pool.acquire("held")
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        for key in "abcd":
            await queue.add(key)
        queue.scopes["a"].cancel()  # the head of the queue
        queue.scopes["c"].cancel()  # one in the middle
        await until(lambda: pool.stats().waiting == 2)
        held.release()
    assert queue.granted == ["b", "d"]
    stats = pool.stats()
    assert (stats.in_use, stats.waiting, stats.acquired, stats.released) == (0, 0, 3, 3)


@pytest.mark.anyio
async def test_cancelled_together_with_a_release_loses_neither_slot_nor_wakeup() -> None:
    pool = make_pool(concurrency=1)
    held = await pool.acquire("held")
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        await queue.add("a")
        await queue.add("b")
        # Whichever way the race goes (a cancelled before or after its grant),
        # the capacity must end up with b.
        held.release()
        queue.scopes["a"].cancel()
    assert queue.granted[-1] == "b"
    stats = pool.stats()
    assert (stats.in_use, stats.waiting) == (0, 0)
    assert stats.acquired == stats.released


@pytest.mark.anyio
async def test_granted_but_cancelled_before_resuming_passes_the_slot_on() -> None:
    # anyio defers a cancel until a woken task has run, so this uses a bare
    # asyncio task: Task.cancel() on a task whose wake-up is already scheduled
    # throws into it at resumption, after its grant.
    pool = make_pool(concurrency=1)
    held = await pool.acquire("held")
    first = asyncio.create_task(pool.acquire("a"))
    await until(lambda: pool.stats().waiting == 1)
    second = asyncio.create_task(pool.acquire("b"))
    await until(lambda: pool.stats().waiting == 2)
    held.release()
    assert pool.stats().in_use == 1  # granted to a already
    first.cancel()
    with anyio.fail_after(10):
        with pytest.raises(asyncio.CancelledError):
            await first
        slot = await second
    assert slot.key == "b"
    stats = pool.stats()
    assert (stats.in_use, stats.waiting, stats.acquired, stats.released) == (1, 0, 2, 1)


@pytest.mark.anyio
async def test_a_slot_is_released_exactly_once() -> None:
    pool = make_pool(concurrency=1)
    slot = await pool.acquire("u")
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        await queue.add("a", hold=True)
        await queue.add("b", hold=True)
        assert slot.release() is True
        assert slot.release() is False
        async with slot:
            pass  # exit after a manual release frees nothing again
        await until(lambda: queue.granted == ["a"])
        stats = pool.stats()
        assert (stats.in_use, stats.waiting, stats.released) == (1, 1, 1)
        async with queue.slots["a"]:
            pass
        await until(lambda: queue.granted == ["a", "b"])
        queue.slots["b"].release()
    assert slot.released
    stats = pool.stats()
    assert (stats.in_use, stats.acquired, stats.released) == (0, 3, 3)


@pytest.mark.anyio
async def test_aimd_decrease_cooldown_minimum_and_increase() -> None:
    clock = FakeClock()
    pool = make_pool(
        concurrency=8,
        per_model={"anthropic": 4},
        clock=clock,
        decrease_factor=0.5,
        increase_after=2,
        cooldown=10.0,
        minimum=1,
    )

    def limit(provider: str) -> int | None:
        return pool.stats().provider_limits.get(provider)

    with capture_logs() as logs:
        pool.on_rate_limited("anthropic")
        assert limit("anthropic") == 2
        clock.now = 9.9
        pool.on_rate_limited("anthropic")  # within the cooldown
        assert limit("anthropic") == 2
        clock.now = 10.0
        pool.on_rate_limited("anthropic")
        assert limit("anthropic") == 1
        clock.now = 30.0
        pool.on_rate_limited("anthropic")  # floor: the minimum
        assert limit("anthropic") == 1

        pool.on_success("anthropic")
        pool.on_rate_limited("anthropic")  # a signal resets the run of successes
        pool.on_success("anthropic")
        assert limit("anthropic") == 1
        pool.on_success("anthropic")
        assert limit("anthropic") == 2
        for _ in range(20):
            pool.on_success("anthropic")
        assert limit("anthropic") == 4  # never above the configured limit

        # Without a limit of its own a provider starts from the global one.
        assert limit("openai") is None
        pool.on_rate_limited("openai")
        assert limit("openai") == 4
        pool.on_success("unknown")  # no state, nothing to grow
        assert limit("unknown") is None

    events = Counter((entry["event"], entry.get("provider"), entry.get("new")) for entry in logs)
    assert events[("pool.limit_decreased", "anthropic", 2)] == 1
    assert events[("pool.limit_decreased", "anthropic", 1)] == 1
    assert events[("pool.limit_increased", "anthropic", 4)] == 1
    assert events[("pool.limit_decreased", "openai", 4)] == 1


@pytest.mark.anyio
async def test_lower_limit_only_gates_new_admissions() -> None:
    pool = make_pool(concurrency=8, per_model={"anthropic": 4}, increase_after=1)
    slots = [await pool.acquire(f"u{i}", provider="anthropic") for i in range(4)]
    pool.on_rate_limited("anthropic")
    assert pool.stats().provider_limits["anthropic"] == 2
    assert pool.stats().in_use == 4  # nothing running was stopped
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        await queue.add("next", provider="anthropic")
        slots[0].release()
        slots[1].release()
        assert queue.granted == []  # 2 in use, limit 2
        slots[2].release()
        await until(lambda: queue.granted == ["next"])
    slots[3].release()
    assert pool.stats().in_use == 0


@pytest.mark.anyio
async def test_raising_a_limit_starts_queued_work_at_once() -> None:
    pool = make_pool(concurrency=1)
    held = await pool.acquire("held")
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        await queue.add("a", hold=True)
        await queue.add("b", hold=True)
        with capture_logs() as logs:
            pool.set_limit(3)
        assert pool.stats().in_use == 3  # granted on the spot, not on a later release
        await until(lambda: sorted(queue.granted) == ["a", "b"])
    held.release()
    assert logs[0]["event"] == "pool.limit_increased"
    assert pool.stats().limit == 3
    with pytest.raises(ValueError, match="at least 1"):
        pool.set_limit(0)


@pytest.mark.anyio
async def test_raising_a_provider_limit_starts_its_queued_work() -> None:
    pool = make_pool(concurrency=8, per_model={"anthropic": 2}, increase_after=1)
    pool.on_rate_limited("anthropic")
    held = await pool.acquire("held", provider="anthropic")
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        await queue.add("a", provider="anthropic", hold=True)
        pool.on_success("anthropic")
        assert pool.stats().in_use == 2
        await until(lambda: queue.granted == ["a"])
    held.release()
    queue.slots["a"].release()
    assert pool.stats().provider_limits["anthropic"] == 2


@pytest.mark.anyio
async def test_work_without_a_provider_has_its_own_adaptive_bucket() -> None:
    pool = make_pool(concurrency=4)
    pool.on_rate_limited(None)
    assert pool.stats().provider_limits == {"": 2}
    slots = [await pool.acquire("u1"), await pool.acquire("u2")]
    other = await pool.acquire("o", provider="openai")  # not gated by the bucket
    async with anyio.create_task_group() as tg:
        queue = Queue(pool, tg)
        await queue.add("u3")
        slots[0].release()
    assert queue.granted == ["u3"]
    slots[1].release()
    other.release()


@pytest.mark.anyio
async def test_ten_thousand_waiters_are_served_in_order() -> None:
    count = 10_000
    rng = random.Random(7)
    pool = make_pool(concurrency=2, per_model={"slow": 1})
    held = await pool.acquire("held")
    slow = await pool.acquire("slow", provider="slow")
    granted: list[int] = []
    priorities = [rng.randrange(5) for _ in range(count)]

    async def waiter(index: int, provider: str | None) -> None:
        async with await pool.acquire(str(index), priority=priorities[index], provider=provider):
            granted.append(index)

    async with anyio.create_task_group() as tg:
        # Tasks start in the order they are spawned, so arrival order is index order.
        for index in range(count):
            tg.start_soon(waiter, index, "slow" if index % 10 == 0 else None)
        await until(lambda: pool.stats().waiting == count)
        held.release()  # everyone but the saturated provider's waiters
        await until(lambda: len(granted) == count - count // 10)
        slow.release()
    fast = [i for i in range(count) if i % 10]
    slow_ones = [i for i in range(count) if i % 10 == 0]

    def order(indices: list[int]) -> list[int]:
        return sorted(indices, key=lambda i: (-priorities[i], i))

    assert granted == order(fast) + order(slow_ones)
    stats = pool.stats()
    assert (stats.in_use, stats.waiting, stats.peak_in_use) == (0, 0, 2)


@pytest.mark.anyio
async def test_mass_cancellation_keeps_order_for_the_rest() -> None:
    # Rising priorities make every arrival displace the head, and most are then
    # cancelled: stale entries pile up in both heaps until they are compacted.
    count = 1000
    pool = make_pool(concurrency=1)
    held = await pool.acquire("held")
    granted: list[int] = []
    scopes: dict[int, anyio.CancelScope] = {}

    async def waiter(index: int) -> None:
        with anyio.CancelScope() as scope:
            scopes[index] = scope
            async with await pool.acquire(str(index), priority=index // 3):
                granted.append(index)

    async with anyio.create_task_group() as tg:
        for index in range(count):
            tg.start_soon(waiter, index)
        await until(lambda: pool.stats().waiting == count)
        kept = [i for i in range(count) if i % 10 == 3]
        for index in range(count):
            if index not in kept:
                scopes[index].cancel()
        await until(lambda: pool.stats().waiting == len(kept))
        held.release()
    assert granted == sorted(kept, key=lambda i: (-(i // 3), i))
    stats = pool.stats()
    assert (stats.in_use, stats.waiting, stats.acquired, stats.released) == (
        0,
        0,
        len(kept) + 1,
        len(kept) + 1,
    )


@pytest.mark.anyio
async def test_stress_never_exceeds_a_limit_and_everyone_finishes() -> None:
    rng = random.Random(1234)
    pool = make_pool(concurrency=5, per_model={"p0": 2, "p1/m": 1}, increase_after=3, cooldown=0)
    running: Counter[str] = Counter()
    worst: Counter[str] = Counter()
    scopes: list[anyio.CancelScope] = []
    finished = 0

    async def worker(index: int, provider: str | None, model: str | None, steps: int) -> None:
        nonlocal finished
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            async with await pool.acquire(
                str(index), priority=rng.random(), provider=provider, model=model
            ):
                keys = ["*", str(provider), f"{provider}/{model}"]
                running.update(keys)
                try:
                    for key in keys:
                        worst[key] = max(worst[key], running[key])
                    for _ in range(steps):
                        await anyio.lowlevel.checkpoint()
                finally:
                    running.subtract(keys)
                if rng.random() < 0.1:
                    pool.on_rate_limited(provider)
                else:
                    pool.on_success(provider)
            finished += 1

    choices = [("p0", "a"), ("p0", "b"), ("p1", "m"), ("p1", "n"), ("p2", None), (None, None)]
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for index in range(2000):
                provider, model = rng.choice(choices)
                tg.start_soon(worker, index, provider, model, rng.randrange(4))
                if index % 10 == 0:
                    # Waiting or running, whichever it is now.
                    rng.choice(scopes or [anyio.CancelScope()]).cancel()
                if index % 50 == 0:
                    pool.set_limit(rng.choice([3, 5]))
                    await anyio.lowlevel.checkpoint()
            pool.set_limit(5)

    assert 1500 < finished < 2000
    assert worst["*"] <= 5
    assert worst["p0"] <= 2
    assert worst["p1/m"] <= 1
    stats = pool.stats()
    assert (stats.in_use, stats.waiting) == (0, 0)
    assert stats.acquired == stats.released >= finished
