"""Budget caps and cancellation on the simulator: the mission stops, its sessions go quiet.

Hung worker turns (the simulator's ``hang`` fault, switched on for work
turns only) keep sessions busy, so a stop must abort them: each then ends
its message with ``MessageAbortedError`` and no session is left busy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.mission.cancelling import cancel_request_path
from opencode_orchestrator.mission.config import BudgetConfig, MissionConfig
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from tests.mission.enginesupport import (
    EventLog,
    Run,
    Sim,
    Tap,
    fault_turns,
    only,
    run_mission,
    sim_config,
    simulated,
    watching,
)

pytestmark = pytest.mark.anyio

# Two units with nothing between them: both work turns run (and hang) at once.
_TWO_AT_ONCE = sim_config(planner={"units": 2, "shape": "random", "edge_probability": 0.0})


async def _check_hung_turns_aborted(sim: Sim, log: EventLog, run: Run) -> None:
    """Both hung work turns were aborted and nothing is left running."""
    works = [i["message"] for i in run.wal.intents(kind="work")]
    assert len(works) == 2
    await log.wait_for(lambda: all(log.answered(m, "MessageAbortedError") for m in works))
    store = await sim.record()
    for work in works:
        answer = only(m.info for m in store.answers(work))
        assert answer["error"]["name"] == "MessageAbortedError"
    assert await sim.client.session_status() == {}


async def test_the_token_cap_stops_the_mission_within_one_turn_of_it(tmp_path: Path) -> None:
    # One turn at a time (a chain, no shadow review): the turn that crosses the cap is
    # stopped while it runs, its usage journaled, and no other turn starts.
    cap = 2500
    config = MissionConfig(
        shadow_review=False, budget=BudgetConfig(max_tokens=cap, reserve_tokens=100)
    )
    async with simulated(tmp_path, sim_config(planner={"units": 4})) as sim, watching(sim) as log:
        run = await run_mission(sim, config)
        wal = run.wal
        last = wal.intents()[-1]
        await log.wait_for(lambda: log.answered(last["message"]))  # aborted, or just done
        store = await sim.record()
        busy = await sim.client.session_status()
    assert run.state is MissionState.BUDGET_EXCEEDED
    assert run.model.reason == f"budget exceeded: tokens {run.model.tokens:,} of {cap:,}"
    assert wal.mission_states() == ["running", "budget_exceeded"]
    ended = wal.end_of(last)
    assert (ended["status"], ended["error_name"]) == ("aborted", "BudgetExceeded")
    assert len(wal.ended()) == len(wal.intents()), "every turn's usage is in the journal"
    # What OpenCode really spent is what the journal says, past the cap by less than a turn.
    spent = sum(
        m.info["tokens"].get("total", 0)
        for messages in store.transcripts.values()
        for m in messages
        if m.info["role"] == "assistant"
    )
    largest = max(e["tokens"] for e in wal.ended().values())
    assert spent == run.model.tokens
    assert cap < spent <= cap + largest
    assert busy == {}
    _check_every_unit_final(run, "the budget ran out")


def _check_every_unit_final(run: Run, why: str) -> None:
    """A stopped mission leaves no unit in a working state, in its model and its journal."""
    units = run.model.units.values()
    assert units, "the plan was accepted"
    assert all(u.state.final for u in units), {u.id: u.state for u in units}
    cancelled = [u for u in units if u.state is UnitState.CANCELLED]
    assert cancelled, "the stop came before every unit was done"
    assert all(u.reason == why for u in cancelled)
    journaled = {d["unit"] for d in run.wal.of(RecordType.UNIT_STATE) if d["state"] == "cancelled"}
    assert journaled == {u.id for u in cancelled}


async def test_a_cap_below_one_turns_reservation_stops_before_any_prompt(
    tmp_path: Path,
) -> None:
    config = MissionConfig(budget=BudgetConfig(max_tokens=1000, reserve_tokens=5000))
    async with simulated(tmp_path) as sim:
        run = await run_mission(sim, config)
        store = await sim.record()
    assert run.state is MissionState.BUDGET_EXCEEDED
    assert run.model.reason == (
        "budget exceeded: tokens 5,000 of 1,000 (0 spent, the rest estimated for turns starting "
        "or under way); each turn first reserves 5,000 (budget.reserve_tokens): raise the cap "
        "or lower budget.reserve_tokens"
    )
    assert not run.wal.intents()
    assert not [m for ms in store.transcripts.values() for m in ms], "nothing was sent"


async def test_the_wall_time_cap_aborts_the_busy_sessions(tmp_path: Path) -> None:
    config = MissionConfig(budget=BudgetConfig(max_wall_seconds=1.0))
    async with simulated(tmp_path, _TWO_AT_ONCE) as sim, watching(sim) as log:
        tap = Tap()
        fault_turns(tap, sim, kinds={"work"}, hang_rate=1.0)
        run = await run_mission(sim, config, tap=tap)
        await _check_hung_turns_aborted(sim, log, run)
    assert run.state is MissionState.BUDGET_EXCEEDED
    assert run.model.reason.startswith("budget exceeded: wall time")


def _when_both_hang(tap: Tap, action: Callable[[MissionEngine], object]) -> None:
    """Call ``action`` once both work turns are running (their answer was announced)."""
    works: set[str] = set()
    running: set[str] = set()

    def hook(record_type: str, data: dict[str, Any]) -> None:
        if record_type == RecordType.TURN_INTENT and data["kind"] == "work":
            works.add(data["turn"])
        elif record_type == RecordType.TURN_MESSAGE and data["turn"] in works:
            running.add(data["turn"])
            if len(running) == 2 and tap.engine is not None:
                action(tap.engine)

    tap.on(hook)


async def test_a_cancel_request_aborts_the_busy_sessions(tmp_path: Path) -> None:
    async with simulated(tmp_path, _TWO_AT_ONCE) as sim, watching(sim) as log:
        tap = Tap()
        fault_turns(tap, sim, kinds={"work"}, hang_rate=1.0)
        _when_both_hang(tap, lambda engine: engine.request_cancel())
        run = await run_mission(sim, tap=tap)
        await _check_hung_turns_aborted(sim, log, run)
    assert run.state is MissionState.CANCELLED
    assert run.model.reason == "cancelled on request"
    assert run.model.cancel_requested
    assert len(run.wal.of(RecordType.MISSION_CANCEL)) == 1
    assert run.wal.mission_states() == ["running", "cancelled"]
    _check_every_unit_final(run, "the mission was cancelled")


async def test_the_cancel_file_cancels_a_running_mission(tmp_path: Path) -> None:
    async with simulated(tmp_path, _TWO_AT_ONCE) as sim, watching(sim) as log:
        tap = Tap()
        fault_turns(tap, sim, kinds={"work"}, hang_rate=1.0)
        # Written by another process in real life (the `cancel` command).
        _when_both_hang(
            tap,
            lambda engine: cancel_request_path(sim.project, engine.ctx.mission_id).write_text(""),
        )
        run = await run_mission(sim, tap=tap)
        await _check_hung_turns_aborted(sim, log, run)
    assert run.state is MissionState.CANCELLED
    assert run.model.reason == "cancelled on request"
    assert len(run.wal.of(RecordType.MISSION_CANCEL)) == 1


async def test_a_turn_whose_estimate_does_not_fit_waits_for_the_turns_under_way(
    tmp_path: Path,
) -> None:
    # Room for one turn's estimate at a time: the second of two ready units waits
    # for the first's reservation to settle (for far less) instead of ending the
    # mission with almost all of its budget unspent.
    config = MissionConfig(budget=BudgetConfig(max_tokens=30_000, reserve_tokens=20_000))
    async with simulated(tmp_path, _TWO_AT_ONCE) as sim:
        run = await run_mission(sim, config)
    assert run.state is MissionState.SEALED
    assert run.model.tokens <= 30_000
    starts = [r for r in run.wal.records if r.type == RecordType.TURN_INTENT]
    ends = [r for r in run.wal.records if r.type == RecordType.TURN_ENDED]
    for intent in starts[1:]:  # never two turns under way at once
        open_turns = [
            i
            for i in starts
            if i.seq < intent.seq
            and not any(e.data["turn"] == i.data["turn"] and e.seq < intent.seq for e in ends)
        ]
        assert open_turns == [], intent.data["kind"]
