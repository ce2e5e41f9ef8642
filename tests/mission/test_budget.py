from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from opencode_orchestrator.mission.budget import Budget, BudgetRemaining, BudgetUsage
from opencode_orchestrator.mission.config import BudgetConfig
from opencode_orchestrator.mission.errors import BudgetExceededError


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_budget(clock: FakeClock | None = None, **caps: Any) -> Budget:
    caps.setdefault("reserve_tokens", 100)
    caps.setdefault("reserve_cost", 0.25)
    return Budget(BudgetConfig(**caps), clock=clock or FakeClock())


def test_token_cap_counts_usage_and_reservations() -> None:
    budget = make_budget(max_tokens=1000)
    first = budget.reserve(400)
    second = budget.reserve(400)
    with pytest.raises(BudgetExceededError) as caught:
        budget.reserve(201)
    assert (caught.value.cap, caught.value.used, caught.value.limit) == ("tokens", 1001, 1000)
    assert caught.value.code == "mission.budget"
    budget.reserve(200).release()  # exactly at the cap is allowed
    first.settle(100, 0.0)  # actual usage came in under the estimate
    assert budget.usage().reserved_tokens == 400
    assert budget.reserve(500).tokens == 500
    second.release()
    assert budget.exceeded() is None


def test_cost_cap() -> None:
    budget = make_budget(max_cost=1.0)
    reservations = [budget.reserve() for _ in range(4)]  # 4 x 0.25: exactly 1.0
    with pytest.raises(BudgetExceededError) as caught:
        budget.reserve(cost=0.01)
    assert caught.value.cap == "cost"
    for reservation in reservations:
        reservation.settle(10, 0.3)
    exceeded = budget.exceeded()
    assert exceeded is not None
    assert exceeded.cap == "cost"
    assert exceeded.used == pytest.approx(1.2)
    assert exceeded.limit == 1.0


def test_usage_past_a_cap_is_reported_not_refused() -> None:
    budget = make_budget(max_tokens=100)
    budget.add_usage(100, 0.0)
    assert budget.exceeded() is None  # at the cap is not past it
    budget.reserve(0).release()
    budget.add_usage(1, 0.0)
    exceeded = budget.exceeded()
    assert exceeded is not None
    assert (exceeded.cap, exceeded.used, exceeded.limit) == ("tokens", 101, 100)
    with pytest.raises(BudgetExceededError):
        budget.reserve(0)


def test_exceeded_ignores_reservations() -> None:
    budget = make_budget(max_tokens=100, reserve_tokens=100)
    budget.reserve()
    assert budget.exceeded() is None
    assert budget.remaining().tokens == 0


def test_wall_time_cap_with_a_fake_clock() -> None:
    clock = FakeClock(50.0)
    budget = make_budget(clock, max_wall_seconds=60.0)
    clock.now = 110.0
    assert budget.elapsed() == 60.0
    assert budget.exceeded() is None
    budget.reserve().release()
    assert budget.remaining().wall_seconds == 0.0
    clock.now = 110.5
    exceeded = budget.exceeded()
    assert exceeded is not None
    assert (exceeded.cap, exceeded.used, exceeded.limit) == ("wall_time", 60.5, 60.0)
    with pytest.raises(BudgetExceededError) as caught:
        budget.reserve(0, 0.0)
    assert caught.value.cap == "wall_time"


def test_elapsed_before_carries_over_a_resume() -> None:
    clock = FakeClock()
    budget = Budget(BudgetConfig(max_wall_seconds=100.0), clock=clock, elapsed_before=95.0)
    assert budget.elapsed() == 95.0
    clock.now += 6.0
    exceeded = budget.exceeded()
    assert exceeded is not None
    assert exceeded.cap == "wall_time"


def test_settle_and_release_are_idempotent() -> None:
    budget = make_budget(max_tokens=1000, max_cost=10.0)
    settled = budget.reserve(300, 1.0)
    released = budget.reserve(200, 0.5)
    assert budget.usage() == BudgetUsage(
        tokens=0, cost=0.0, elapsed=0.0, reserved_tokens=500, reserved_cost=1.5
    )
    assert settled.settle(250, 0.75) is True
    assert settled.settle(999, 9.0) is False
    assert settled.release() is False
    assert released.release() is True
    assert released.release() is False
    assert released.settle(1, 1.0) is False
    assert not settled.open
    assert not released.open
    assert budget.usage() == BudgetUsage(
        tokens=250, cost=0.75, elapsed=0.0, reserved_tokens=0, reserved_cost=0.0
    )


def test_reserved_cost_returns_to_exact_zero() -> None:
    budget = make_budget(max_cost=100.0)
    reservations = [budget.reserve(cost=0.1) for _ in range(10)]
    for reservation in reservations:
        reservation.release()
    assert budget.usage().reserved_cost == 0.0


def test_no_cap_never_trips() -> None:
    clock = FakeClock()
    budget = make_budget(clock)
    budget.add_usage(10**12, 1e9)
    reservations = [budget.reserve(10**9, 1e6) for _ in range(100)]
    clock.now += 1e9
    assert budget.exceeded() is None
    assert budget.remaining() == BudgetRemaining(tokens=None, cost=None, wall_seconds=None)
    assert len(reservations) == 100


def test_remaining_subtracts_usage_and_reservations() -> None:
    clock = FakeClock()
    budget = make_budget(clock, max_tokens=1000, max_cost=2.0, max_wall_seconds=30.0)
    budget.add_usage(100, 0.5)
    budget.reserve(300, 0.5)
    clock.now += 10.0
    assert budget.remaining() == BudgetRemaining(tokens=600, cost=1.0, wall_seconds=20.0)


def test_round_trip_through_the_snapshot() -> None:
    clock = FakeClock()
    config = BudgetConfig(max_tokens=10_000, max_cost=5.0, max_wall_seconds=600.0)
    budget = Budget(config, clock=clock, used_tokens=500, used_cost=0.5)
    budget.add_usage(1234, 0.125)
    budget.reserve(2000, 1.0)  # in flight: not part of the snapshot
    clock.now += 42.0
    data = json.loads(json.dumps(budget.to_dict()))

    later = FakeClock(7.0)
    restored = Budget.from_dict(config, data, clock=later)
    assert restored.usage() == BudgetUsage(
        tokens=1734, cost=0.625, elapsed=42.0, reserved_tokens=0, reserved_cost=0.0
    )
    later.now += 8.0
    assert restored.elapsed() == 50.0
    assert restored.to_dict() == {"tokens": 1734, "cost": 0.625, "elapsed": 50.0}


@pytest.mark.parametrize(
    "data",
    [
        {"cost": 0.0, "elapsed": 0.0},
        {"tokens": True, "cost": 0.0, "elapsed": 0.0},
        {"tokens": 1, "cost": "0.1", "elapsed": 0.0},
        {"tokens": 1, "cost": 0.1, "elapsed": None},
        {"tokens": -1, "cost": 0.1, "elapsed": 0.0},
        {"tokens": 1, "cost": 0.1, "elapsed": -2.0},
    ],
)
def test_a_malformed_snapshot_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"budget|negative"):
        Budget.from_dict(BudgetConfig(), data)


def test_negative_or_nan_amounts_are_refused() -> None:
    budget = make_budget()
    with pytest.raises(ValueError, match="negative"):
        budget.reserve(-1)
    with pytest.raises(ValueError, match="negative"):
        budget.add_usage(1, float("nan"))
    with pytest.raises(ValueError, match="negative"):
        budget.reserve().settle(-5, 0.0)


@pytest.mark.anyio
async def test_a_refused_estimate_waits_for_the_reservations_ahead_of_it() -> None:
    budget = make_budget(max_tokens=1000)
    running = budget.reserve(600)
    got: list[int] = []

    async def next_turn() -> None:
        got.append((await budget.reserve_when_it_fits(600)).tokens)

    async with anyio.create_task_group() as tg:
        tg.start_soon(next_turn)
        await anyio.wait_all_tasks_blocked()
        assert budget._unreserved is not None, "it waits"
        assert got == []
        running.settle(150, 0.0)  # the turn under way cost less than it held
    assert got == [600]
    assert budget.usage().reserved_tokens == 600


@pytest.mark.anyio
async def test_an_estimate_that_fits_nothing_left_is_refused_at_once() -> None:
    budget = make_budget(max_tokens=1000)
    budget.add_usage(700, 0.0)
    with pytest.raises(BudgetExceededError) as caught:
        await budget.reserve_when_it_fits(400)
    assert (caught.value.used, caught.value.spent) == (1100, 700)
    assert str(caught.value) == (
        "budget exceeded: tokens 1,100 of 1,000 (700 spent, the rest estimated for turns "
        "starting or under way)"
    )


@pytest.mark.anyio
async def test_a_waiting_estimate_is_refused_once_usage_passes_the_cap() -> None:
    budget = make_budget(max_tokens=1000)
    first, second = budget.reserve(500), budget.reserve(500)
    outcome: list[BaseException] = []

    async def next_turn() -> None:
        try:
            await budget.reserve_when_it_fits(100)
        except BudgetExceededError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(next_turn)
        await anyio.wait_all_tasks_blocked()
        assert budget._unreserved is not None, "it waits"
        first.settle(1200, 0.0)  # over the cap on its own: nothing more starts
    assert len(outcome) == 1
    second.release()


def test_a_breach_of_time_or_cost_reads_in_seconds_or_dollars() -> None:
    assert str(BudgetExceededError("wall_time", 2.000991, 2)) == (
        "budget exceeded: wall time 2.00 s of 2.00 s"
    )
    # A short cap is not rounded to look already reached ("0.1 s of 0.1 s").
    assert str(BudgetExceededError("wall_time", 0.0612, 0.05)) == (
        "budget exceeded: wall time 0.06 s of 0.05 s"
    )
    assert str(BudgetExceededError("wall_time", 95.04, 90)) == (
        "budget exceeded: wall time 95.0 s of 90.0 s"
    )
    assert str(BudgetExceededError("cost", 0.512345, 0.5, spent=0.2)) == (
        "budget exceeded: cost $0.5123 of $0.5000 ($0.2000 spent, the rest estimated for "
        "turns starting or under way)"
    )


def test_a_cap_below_one_turns_reserve_says_which_setting_to_change() -> None:
    # "cost $0.0500 of $0.0200 ($0.0000 spent …)" left the user guessing why
    # nothing ran: the reserve of one turn is itself over the cap.
    budget = make_budget(max_cost=0.02, reserve_cost=0.05)
    with pytest.raises(BudgetExceededError) as caught:
        budget.reserve()
    assert str(caught.value).endswith(
        "; each turn first reserves $0.0500 (budget.reserve_cost): "
        "raise the cap or lower budget.reserve_cost"
    )
    # Under a cap a turn's reserve fits, running out is no setting's fault.
    budget = make_budget(max_tokens=1000)
    budget.add_usage(700, 0.0)
    with pytest.raises(BudgetExceededError) as caught:
        budget.reserve(400)
    assert "reserve_tokens" not in str(caught.value)
