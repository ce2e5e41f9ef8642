"""The scheduler on the simulator: file scopes keep units apart, the critical path goes first.

Seed 1's random plan of six units has three roots with different critical
paths (u01 heads the longest chain). With ``planner.shared_files`` every unit
also owns ``src/shared.py``, so any two scopes overlap and units must run one
at a time; without it they run side by side. A unit *runs* from its first
``dispatched`` record to its final state, read in WAL order.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from opencode_orchestrator.mission import scheduler as scheduler_module
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.plan import critical_path
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.scheduler import Scheduler
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.sim import LatencyConfig, SimConfig
from tests.mission.enginesupport import Run, Wal, run_mission, sim_config, simulated

pytestmark = pytest.mark.anyio


def _plan(**planner: Any) -> SimConfig:
    return sim_config(
        seed=1, planner={"units": 6, "shape": "random", "edge_probability": 0.35, **planner}
    )


def _running(wal: Wal) -> dict[str, tuple[int, int]]:
    """Each unit's span in the WAL: from its first dispatch to its final state."""
    spans: dict[str, tuple[int, int]] = {}
    for n, record in enumerate(wal.records):
        if record.type != RecordType.UNIT_STATE:
            continue
        unit, state = record.data["unit"], record.data["state"]
        if state == "dispatched" and unit not in spans:
            spans[unit] = (n, -1)
        elif state in ("verified", "failed", "skipped", "cancelled") and unit in spans:
            spans[unit] = (spans[unit][0], n)
    return spans


def _overlapping(run: Run) -> list[tuple[str, str]]:
    spans = _running(run.wal)
    units = sorted(spans)
    return [
        (a, b)
        for i, a in enumerate(units)
        for b in units[i + 1 :]
        if spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]
    ]


async def test_units_whose_scopes_overlap_never_run_at_the_same_time(tmp_path: Path) -> None:
    async with simulated(tmp_path / "shared", _plan(shared_files=["src/shared.py"])) as sim:
        shared = await run_mission(sim)
    # Turns that take a while, so that side by side is side by side in the WAL too.
    apart_config = _plan().model_copy(update={"latency": LatencyConfig(mean=0.01, jitter=0.0)})
    async with simulated(tmp_path / "apart", apart_config) as sim:
        apart = await run_mission(sim)
    assert shared.state is MissionState.SEALED
    assert apart.state is MissionState.SEALED
    assert all("src/shared.py" in u.spec.files for u in shared.model.units.values())
    assert _overlapping(shared) == []
    # The same plan with disjoint scopes: its independent roots do run side by side.
    assert ("u01", "u04") in _overlapping(apart)


def _spans_in_time(wal: Wal) -> dict[str, tuple[float, float]]:
    """Each unit's span by the clock: from its first dispatch to its final state."""
    spans: dict[str, tuple[float, float]] = {}
    for record in wal.records:
        if record.type != RecordType.UNIT_STATE:
            continue
        unit, state = record.data["unit"], record.data["state"]
        if state == "dispatched" and unit not in spans:
            spans[unit] = (record.ts, float("inf"))
        elif state in ("verified", "failed", "skipped", "cancelled") and unit in spans:
            spans[unit] = (spans[unit][0], record.ts)
    return spans


async def _two_missions_at_once(
    tmp_path: Path, config: SimConfig, *, through_link: bool = False
) -> list[Run]:
    """Missions ``ma`` and ``mb`` run side by side by one process in one project.

    ``through_link``: ``mb`` names the project through a symbolic link to it.
    """
    runs: list[Run] = []
    async with simulated(tmp_path, config) as sim:
        link = tmp_path / "link"
        link.symlink_to(sim.project, target_is_directory=True)
        spelt = {"a": sim, "b": dataclasses.replace(sim, project=link) if through_link else sim}

        async def one(name: str) -> None:
            run = await run_mission(spelt[name], goal=f"mission {name}", mission_id=f"m{name}")
            runs.append(run)

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "a")
            tg.start_soon(one, "b")
    return runs


@pytest.mark.parametrize("through_link", [False, True], ids=["same-path", "through-a-symlink"])
async def test_two_missions_in_one_project_never_run_overlapping_scopes_at_once(
    tmp_path: Path, through_link: bool
) -> None:
    # Both missions get the same plan: their u01s own the same files, and so on.
    config = _plan().model_copy(update={"latency": LatencyConfig(mean=0.01, jitter=0.0)})
    runs = await _two_missions_at_once(tmp_path, config, through_link=through_link)
    assert [run.state for run in runs] == [MissionState.SEALED] * 2
    first, second = (_spans_in_time(run.wal) for run in runs)
    assert sorted(first) == sorted(second) == ["u01", "u02", "u03", "u04", "u05", "u06"]
    side_by_side = {
        (a, b)
        for a, (a_start, a_end) in first.items()
        for b, (b_start, b_end) in second.items()
        if a_start < b_end and b_start < a_end
    }
    # A unit never runs beside the other mission's unit with its scope...
    assert not [(a, b) for a, b in side_by_side if a == b]
    # ...while units with disjoint scopes still do, across the missions.
    assert side_by_side


async def test_a_mission_whose_every_unit_waits_on_another_mission_waits_and_seals(
    tmp_path: Path,
) -> None:
    # Every unit of both plans owns src/shared.py: one unit at a time in the
    # project, so a mission often has nothing running and everything queued.
    config = _plan(shared_files=["src/shared.py"]).model_copy(
        update={"latency": LatencyConfig(mean=0.005, jitter=0.0)}
    )
    runs = await _two_missions_at_once(tmp_path, config)
    assert [run.state for run in runs] == [MissionState.SEALED] * 2
    spans = [span for run in runs for span in _spans_in_time(run.wal).values()]
    assert len(spans) == 12
    spans.sort()
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


async def test_ready_units_start_critical_path_first(tmp_path: Path) -> None:
    # One unit at a time (shared scopes), so each start is a choice among the ready.
    async with simulated(tmp_path, _plan(shared_files=["src/shared.py"])) as sim:
        run = await run_mission(sim)
    assert run.state is MissionState.SEALED
    priority = critical_path([u.spec for u in run.model.units.values()])
    assert priority["u01"] > priority["u04"] > priority["u06"]
    ready: set[str] = set()
    passed_over = 0
    for record in run.wal.records:
        if record.type != RecordType.UNIT_STATE:
            continue
        unit, state = record.data["unit"], record.data["state"]
        if state == "ready":
            ready.add(unit)
        elif state == "dispatched" and unit in ready:
            ready.discard(unit)
            waiting = [priority[u] for u in ready]
            assert all(p <= priority[unit] for p in waiting), (unit, ready)
            passed_over += any(p < priority[unit] for p in waiting)
    assert passed_over >= 2, "the order mattered: a lower unit was ready and had to wait"
    first = next(d["unit"] for d in run.wal.of(RecordType.UNIT_STATE, state="dispatched"))
    assert first == "u01"


class _SlowJournal:
    """Journals like the real one: the model changes only once the write completed."""

    def __init__(self, model: MissionModel) -> None:
        self.model = model
        self.decisions: list[tuple[str, str]] = []

    async def write(
        self, record_type: RecordType, data: dict[str, Any], *, durable: bool = True
    ) -> None:
        await anyio.lowlevel.checkpoint()  # the durable append: other tasks run meanwhile
        self.decisions.append((data["unit"], data["state"]))
        self.model.units[data["unit"]].state = UnitState(data["state"])


@pytest.mark.parametrize(("ended", "decided"), [("verified", "ready"), ("failed", "skipped")])
async def test_two_dependencies_ending_together_decide_their_dependent_once(
    ended: str, decided: str
) -> None:
    model = MissionModel()
    for uid, deps in (("a", []), ("b", []), ("c", ["a", "b"])):
        spec = UnitSpec(id=uid, title=uid, files=[f"{uid}.py"], depends_on=deps)
        model.units[uid] = UnitModel(spec=spec)
    journal = _SlowJournal(model)
    ctx = SimpleNamespace(model=model, journal=journal, config=MissionConfig())
    scheduler = Scheduler(ctx, knowledge="")  # type: ignore[arg-type]
    await scheduler._settle(scheduler._index_new_units())
    assert sorted(journal.decisions) == [("a", "ready"), ("b", "ready")]  # c waits for both
    journal.decisions.clear()
    model.units["a"].state = model.units["b"].state = UnitState(ended)
    async with anyio.create_task_group() as tg:  # a's runner and b's, ending together
        tg.start_soon(scheduler._settle, ["a", "c"])
        tg.start_soon(scheduler._settle, ["b", "c"])
    assert journal.decisions == [("c", decided)]


async def test_settling_a_long_verified_prefix_visits_each_unit_a_few_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A ladder, each unit depending on the two before it: from the first unit there
    # are as many paths to the end as Fibonacci numbers (832,040 to the 30th unit).
    # A scheduler settles every unit at once when it starts (a resumed mission, a
    # second iteration), most of them verified: walking on from a verified unit each
    # time it was reached took that many steps (a 400-unit random mission resumed
    # with 51 verified spun for minutes before its first prompt).
    model = MissionModel()
    ids = [f"u{i:02d}" for i in range(32)]
    for i, uid in enumerate(ids):
        spec = UnitSpec(id=uid, title=uid, files=[f"{uid}.py"], depends_on=ids[max(0, i - 2) : i])
        model.units[uid] = UnitModel(spec=spec)
        if i < 30:
            model.units[uid].state = UnitState.VERIFIED
    journal = _SlowJournal(model)
    ctx = SimpleNamespace(model=model, journal=journal, config=MissionConfig())
    scheduler = Scheduler(ctx, knowledge="")  # type: ignore[arg-type]
    looked_at: list[str] = []
    dependencies = scheduler_module._dependencies

    def counted(unit: UnitModel, units: dict[str, UnitModel]) -> tuple[UnitModel | None, bool]:
        looked_at.append(unit.id)
        return dependencies(unit, units)

    monkeypatch.setattr(scheduler_module, "_dependencies", counted)
    await scheduler._settle(scheduler._index_new_units())
    assert journal.decisions == [("u30", "ready")]  # u31 waits for it
    assert len(looked_at) <= 2 * len(ids)


async def test_scopes_keep_units_apart_within_a_worktree_not_across_directories() -> None:
    # A racing strategy's sub-units share its worktree: two of them writing the same
    # file must take turns there, while a unit in the project (another checkout of
    # that file) need not wait for either.
    model = MissionModel()
    worktree = "/project/.opencode/orchestrator/worktrees/m-u1-r1"
    for uid, directory in (("u1.r1.a", worktree), ("u1.r1.b", worktree), ("u2", None)):
        spec = UnitSpec(id=uid, title=uid, files=["src/shared.py"])
        model.units[uid] = UnitModel(spec=spec, state=UnitState.READY, directory=directory)
    ctx = SimpleNamespace(model=model, journal=_SlowJournal(model), config=MissionConfig())
    scheduler = Scheduler(ctx, knowledge="")  # type: ignore[arg-type]
    await scheduler._settle(scheduler._index_new_units())
    taken = scheduler._take(3)
    assert "u2" in taken
    assert len([uid for uid in taken if uid.startswith("u1.r1.")]) == 1


async def test_a_unit_whose_runner_was_cancelled_is_never_started_again() -> None:
    # A race stops a loser's sub-unit, then aborts its sessions before journaling it
    # CANCELLED. A runner started for it in between (it was still queued) adopted
    # its turn and journaled REPORTED after CANCELLED: cancelled -> reported.
    model = MissionModel()
    for uid in ("loser.part1", "other"):
        spec = UnitSpec(id=uid, title=uid, files=[f"{uid}.py"])
        model.units[uid] = UnitModel(spec=spec, state=UnitState.READY)
    ctx = SimpleNamespace(model=model, journal=_SlowJournal(model), config=MissionConfig())
    scheduler = Scheduler(ctx, knowledge="")  # type: ignore[arg-type]
    await scheduler._settle(scheduler._index_new_units())
    await ctx.unit_canceller("loser.part1")
    assert scheduler._take(5) == ["other"]


async def test_a_unit_cancelled_after_it_was_taken_gets_no_runner() -> None:
    # Taken to run, then cancelled before its task started (no cancel scope to
    # reach yet): the task must not start a runner for it (this context has none
    # to give: a runner would fail at once).
    model = MissionModel()
    spec = UnitSpec(id="loser.part1", title="loser.part1", files=["a.py"])
    model.units["loser.part1"] = UnitModel(spec=spec, state=UnitState.READY)
    ctx = SimpleNamespace(model=model, journal=_SlowJournal(model), config=MissionConfig())
    scheduler = Scheduler(ctx, knowledge="")  # type: ignore[arg-type]
    await scheduler._settle(scheduler._index_new_units())
    assert scheduler._take(5) == ["loser.part1"]
    await ctx.unit_canceller("loser.part1")
    with anyio.fail_after(5):
        await scheduler._run_units("loser.part1")
    assert "loser.part1" not in scheduler._running
