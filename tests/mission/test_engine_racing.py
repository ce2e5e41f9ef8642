"""Speculative racing: strategies in git worktrees, the first verified wins."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from opencode_orchestrator.mission.knowledge import KnowledgeFile
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from tests.mission.enginesupport import Sim, run_mission, sim_config, simulated

pytestmark = pytest.mark.anyio


def _git(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(project), *args], check=True, capture_output=True, text=True
    )
    return done.stdout


def _repository(sim: Sim) -> None:
    project = sim.project
    _git(project, "init", "-q")
    _git(project, "config", "user.email", "test@localhost")
    _git(project, "config", "user.name", "test")
    (project / "README.md").write_text("project\n")
    (project / ".gitignore").write_text(".opencode/\n")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "start")


async def test_the_first_verified_strategy_wins_and_its_change_is_applied(tmp_path: Path) -> None:
    config = sim_config(planner={"units": 3, "shape": "chain", "race": {"u02": 3}})
    async with simulated(tmp_path, config) as sim:
        _repository(sim)
        run = await run_mission(sim)
        worktrees = _git(sim.project, "worktree", "list")
        status = _git(sim.project, "status", "--porcelain")
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
