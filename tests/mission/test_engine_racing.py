"""Speculative racing: strategies in git worktrees, the first verified wins."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final

import pytest

from opencode_orchestrator.mission import units as units_module
from opencode_orchestrator.mission.config import LimitsConfig, MissionConfig
from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.knowledge import KnowledgeFile
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.racing import finish_race
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.sim import SimConfig
from tests.mission.enginesupport import (
    Run,
    git,
    git_repository,
    only,
    resume_mission,
    run_mission,
    run_until_cut,
    sim_config,
    simulated,
)

pytestmark = pytest.mark.anyio


async def test_the_first_verified_strategy_wins_and_its_change_is_applied(tmp_path: Path) -> None:
    config = sim_config(planner={"units": 3, "shape": "chain", "race": {"u02": 3}})
    async with simulated(tmp_path, config) as sim:
        git_repository(sim.project)
        run = await run_mission(sim)
        worktrees = git(sim.project, "worktree", "list")
        status = git(sim.project, "status", "--porcelain")
    assert run.state is MissionState.SEALED, run.model.reason
    units = run.model.units
    strategies = [units[f"u02.r{n}"] for n in (1, 2, 3)]
    assert all(s.directory is not None and "/worktrees/" in s.directory for s in strategies)
    won = run.wal.of(RecordType.RACE_WON)
    assert len(won) == 1
    assert won[0]["unit"] == "u02"
    winner = units[f"u02.r{won[0]['attempt']}"]
    assert winner.state is UnitState.VERIFIED
    assert units["u02"].state is UnitState.VERIFIED
    assert "race won" in units["u02"].reason
    # Every strategy ran in its own worktree, in parallel with the others.
    sessions = {s.sessions["worker"] for s in strategies if "worker" in s.sessions}
    assert len(sessions) == 3
    # The winner's change is in the project; every worktree is gone.
    assert (sim.project / "src/u02/mod1.py").exists()
    assert "src/" in status
    assert worktrees.count("\n") == 1
    # u03 depends on u02: it ran only after the race was decided.
    u03_started = run.wal.index(
        RecordType.UNIT_STATE,
        unit="u03",
        state="dispatched",
    )
    u02_verified = run.wal.index(
        RecordType.UNIT_STATE,
        unit="u02",
        state="verified",
    )
    assert u02_verified < u03_started


async def test_without_git_a_raced_unit_runs_as_one_worker(tmp_path: Path) -> None:
    config = sim_config(planner={"units": 2, "shape": "chain", "race": {"u01": 3}})
    async with simulated(tmp_path, config) as sim:
        run = await run_mission(sim)
    assert run.state is MissionState.SEALED, run.model.reason
    assert "u01.r1" not in run.model.units
    assert run.model.units["u01"].attempt == 1


async def test_learnings_reach_the_project_knowledge_file(tmp_path: Path) -> None:
    async with simulated(tmp_path, sim_config(planner={"units": 2})) as sim:
        before = await KnowledgeFile(sim.project).read()
        run = await run_mission(sim)
        model = run.model
        learned = [
            entry
            for u in model.units.values()
            if u.state is UnitState.VERIFIED
            for entry in u.learnings
        ]
        after = await KnowledgeFile(sim.project).read()
    assert before == ""
    assert run.state is MissionState.SEALED
    assert model.plan_learnings  # the simulated planner always notes one
    for entry in learned + model.plan_learnings:
        assert entry in after


class _RaceJournal:
    """The model changes once a record is written, as the real journal's does."""

    def __init__(self, model: MissionModel) -> None:
        self.model = model
        self.written: list[tuple[str, dict[str, Any]]] = []

    async def write(
        self, record_type: RecordType, data: dict[str, Any], *, durable: bool = True
    ) -> None:
        self.written.append((record_type.value, data))
        if record_type is RecordType.UNIT_STATE:
            self.model.units[data["unit"]].state.check(UnitState(data["state"]))
            self.model.units[data["unit"]].state = UnitState(data["state"])


async def test_a_strategy_verified_while_it_is_being_stopped_keeps_its_end() -> None:
    # Seen in CI: r2 won, and r1's verified record landed while the race stopped
    # r1's runner; journaling r1 CANCELLED after it was refused (verified -> cancelled).
    model = MissionModel()
    parent = UnitModel(spec=UnitSpec(id="u1", title="u1"), state=UnitState.DELEGATED)
    parent.children = ("u1.r1", "u1.r2")
    model.units["u1"] = parent
    for n, state in ((1, UnitState.REVIEWING), (2, UnitState.VERIFIED)):
        uid = f"u1.r{n}"
        model.units[uid] = UnitModel(
            spec=UnitSpec(id=uid, title=uid), state=state, race_of="u1", ended_at=float(n)
        )
    journal = _RaceJournal(model)

    async def cancel_unit(uid: str) -> None:
        await journal.write(RecordType.UNIT_STATE, {"unit": uid, "state": "verified"})

    ctx = SimpleNamespace(
        model=model,
        journal=journal,
        project=Path("."),
        cancel_unit=cancel_unit,
        client_in=lambda directory: contextlib.nullcontext(None),
    )
    ended: list[UnitState] = []

    async def transition(state: UnitState, reason: str) -> None:
        ended.append(state)

    runner = SimpleNamespace(ctx=ctx, unit=parent, transition=transition)
    await finish_race(runner)  # type: ignore[arg-type]
    assert model.units["u1.r1"].state is UnitState.VERIFIED
    assert ("race.won", {"unit": "u1", "attempt": 2, "directory": ""}) in journal.written
    assert not [d for t, d in journal.written if d.get("state") == "cancelled"]
    assert ended == [UnitState.VERIFIED]


async def test_an_engine_that_fails_closes_its_worktrees_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug in the engine (here: crowning a race) ends its run with the error; the
    # worktrees' clients it opened must still be closed, not left to the GC.
    async def broken(runner: object) -> None:
        raise RuntimeError("a bug while crowning the race")

    monkeypatch.setattr(units_module, "finish_race", broken)
    engines: list[MissionEngine] = []
    config = sim_config(planner={"units": 2, "shape": "chain", "race": {"u01": 2}})
    async with simulated(tmp_path, config) as sim:
        git_repository(sim.project)
        with pytest.raises(RuntimeError, match="crowning the race"):
            await run_mission(sim, setup=engines.append)
    [engine] = engines
    assert engine.ctx.extra_clients == {}
    opened = [u.directory for u in engine.ctx.model.units.values() if u.directory]
    assert len(opened) == 2  # both strategies had a worktree, and so a client


async def test_a_race_won_just_before_a_crash_is_cleaned_up_on_resume(tmp_path: Path) -> None:
    # At the crash every losing strategy had ended (cancelled), so the resumed engine
    # starts no runner for them and attaches none of their worktrees: the clean-up
    # must still reach their sessions (it raised KeyError, taking the engine down and
    # leaving the worktrees behind).
    config = sim_config(planner={"units": 3, "shape": "chain", "race": {"u02": 3}})
    async with simulated(tmp_path, config) as sim:
        git_repository(sim.project)
        mission_id, cut = await run_until_cut(
            sim, lambda record_type, _data: record_type == RecordType.RACE_WON
        )
        assert cut
        assert git(sim.project, "worktree", "list").count("\n") == 4  # the 3 strategies
        run = await resume_mission(sim, mission_id)
        worktrees = git(sim.project, "worktree", "list")
        record = await sim.record()
    assert run.state is MissionState.SEALED, run.model.reason
    assert worktrees.count("\n") == 1
    won = f"u02.r{only(run.wal.of(RecordType.RACE_WON))['attempt']}"
    losers = [run.model.units[f"u02.r{n}"] for n in (1, 2, 3) if f"u02.r{n}" != won]
    assert all(u.state.final for u in losers)
    lost_sessions = {s for u in losers for s in u.sessions.values()}
    assert lost_sessions, "the losers had sessions"
    assert not lost_sessions & set(record.sessions), "and they are deleted"


def _split_race_config(split_rate: float = 1.0, seed: int = 0) -> SimConfig:
    # A strategy splits its unit on its first turn at this rate; sub-units may not split.
    return sim_config(
        seed=seed,
        planner={"units": 1, "race": {"u01": 2}, "files_per_unit": 2},
        worker={"split_rate": split_rate},
    )


_SPLIT_RACE_MISSION = MissionConfig(limits=LimitsConfig(max_depth=2))
_ONE_SPLITS: Final = (0.5, 3)
"""Seed 3: u01.r2 splits, u01.r1 does not and wins while u01.r2's sub-units work."""


def _assert_the_race_is_kept_apart(run: Run, project: Path) -> tuple[str, str]:
    """Each strategy's sub-units in its worktree, the loser's gone with it; (winner, loser)."""
    units = run.model.units
    winner = f"u01.r{only(run.wal.of(RecordType.RACE_WON))['attempt']}"
    loser = next(f"u01.r{n}" for n in (1, 2) if f"u01.r{n}" != winner)
    for strategy in (winner, loser):
        directory = units[strategy].directory
        assert directory is not None
        for sub in (u for u in units.values() if u.id.startswith(f"{strategy}.")):
            assert sub.directory == directory
            assert sub.strategy == strategy
            for made in run.wal.of(RecordType.SESSION_CREATED, unit=sub.id):
                assert made["directory"] == directory
    # The loser's sub-units went with it: each verified before the race was won, or
    # cancelled (left to run on, they worked in a removed worktree).
    won_at = run.wal.index(RecordType.RACE_WON)
    for sub in (u for u in units.values() if u.id.startswith(f"{loser}.")):
        assert sub.state is UnitState.CANCELLED or (
            run.wal.index(RecordType.UNIT_STATE, unit=sub.id, state="verified") < won_at
        ), sub.id
    # The project holds the winner's files only (the simulated worker writes its unit id).
    for name in ("mod1.py", "mod2.py"):
        text = (project / "src/u01" / name).read_text()
        assert winner in text
        assert loser not in text
    return winner, loser


async def test_a_strategys_sub_units_work_in_its_worktree(tmp_path: Path) -> None:
    async with simulated(tmp_path, _split_race_config()) as sim:
        git_repository(sim.project)
        run = await run_mission(sim, _SPLIT_RACE_MISSION)
        worktrees = git(sim.project, "worktree", "list")
        winner, loser = _assert_the_race_is_kept_apart(run, sim.project)
    assert run.state is MissionState.SEALED, run.model.reason
    assert any(u.startswith(f"{winner}.") for u in run.model.units)
    assert any(u.startswith(f"{loser}.") for u in run.model.units)
    assert worktrees.count("\n") == 1


async def test_a_losing_strategys_sub_units_go_with_it_and_the_mission_seals(
    tmp_path: Path,
) -> None:
    # Cancelled sub-units of the loser once counted against the seal: the mission
    # looped through five iterations of empty findings and ended FAILED.
    async with simulated(tmp_path, _split_race_config(*_ONE_SPLITS)) as sim:
        git_repository(sim.project)
        run = await run_mission(sim, _SPLIT_RACE_MISSION)
        winner, loser = _assert_the_race_is_kept_apart(run, sim.project)
    assert run.state is MissionState.SEALED, run.model.reason
    assert run.model.iteration == 1
    subs = [u for u in run.model.units.values() if u.id.startswith(f"{loser}.")]
    assert subs
    assert all(u.state is UnitState.CANCELLED for u in subs)
    assert (winner, loser) == ("u01.r1", "u01.r2")


async def test_a_losing_strategys_sub_units_are_cancelled_on_resume(tmp_path: Path) -> None:
    # The crash comes right after the loser is cancelled, its sub-units' turns under
    # way: the resumed race ends them too, keeps the loser's work out of the
    # project, removes every worktree, and seals in one iteration.
    def at_the_first_cancel(record_type: str, data: dict[str, Any]) -> bool:
        return record_type == RecordType.UNIT_STATE and data["state"] == "cancelled"

    async with simulated(tmp_path, _split_race_config(*_ONE_SPLITS)) as sim:
        git_repository(sim.project)
        mission_id, cut = await run_until_cut(sim, at_the_first_cancel, config=_SPLIT_RACE_MISSION)
        assert cut
        run = await resume_mission(sim, mission_id)
        worktrees = git(sim.project, "worktree", "list")
        _assert_the_race_is_kept_apart(run, sim.project)
    assert run.state is MissionState.SEALED, run.model.reason
    assert worktrees.count("\n") == 1
    assert run.model.units["u01.r2"].state is UnitState.CANCELLED
    assert run.model.iteration == 1


@pytest.mark.parametrize(("max_units", "strategies"), [(4, 2), (3, 0)])
async def test_racing_strategies_count_against_the_unit_cap(
    tmp_path: Path, max_units: int, strategies: int
) -> None:
    config = sim_config(planner={"units": 2, "shape": "chain", "race": {"u02": 3}})
    async with simulated(tmp_path, config) as sim:
        git_repository(sim.project)
        run = await run_mission(sim, MissionConfig(limits=LimitsConfig(max_units=max_units)))
    assert run.state is MissionState.SEALED, run.model.reason
    assert len(run.model.units) <= max_units
    raced = [u for u in run.model.units.values() if u.race_of == "u02"]
    assert len(raced) == strategies
