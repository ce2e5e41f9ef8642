"""A race's worktrees go when the mission ends; a winning patch that conflicts fails the unit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.mission.budget import Budget
from opencode_orchestrator.mission.cancelling import record_cancel
from opencode_orchestrator.mission.config import BudgetConfig, MissionConfig
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.mission.worktrees import (
    WORKTREES_DIR,
    PatchConflictError,
    apply_patch,
    create_worktree,
    worktree_patch,
)
from opencode_orchestrator.wal.log import Durability
from opencode_orchestrator.wal.paths import mission_wal_dir
from tests.mission.enginesupport import (
    Tap,
    git,
    git_repository,
    resume_mission,
    run_mission,
    run_until_cut,
    sim_config,
    simulated,
)

pytestmark = pytest.mark.anyio

_RACE = sim_config(planner={"units": 2, "shape": "chain", "race": {"u01": 3}})


def _worktrees(project: Path) -> list[str]:
    """The worktrees git knows, the project's own checkout left out."""
    return git(project, "worktree", "list").splitlines()[1:]


def _checkouts(project: Path) -> list[Path]:
    """What is left on disk under the orchestrator's worktrees directory."""
    root = project / WORKTREES_DIR
    return sorted(root.iterdir()) if root.exists() else []


def _a_strategy_works(record_type: str, data: dict[str, Any]) -> bool:
    return (
        record_type == RecordType.TURN_INTENT
        and str(data["unit"]).startswith("u01.r")
        and data["kind"] == "work"
    )


async def test_a_mission_cancelled_mid_race_removes_its_worktrees(tmp_path: Path) -> None:
    tap = Tap()
    seen: list[int] = []

    def cancel_mid_race(record_type: str, data: dict[str, Any]) -> None:
        if _a_strategy_works(record_type, data) and not seen:
            seen.append(len(_worktrees(sim.project)))
            assert tap.engine is not None
            tap.engine.request_cancel()

    tap.on(cancel_mid_race)
    async with simulated(tmp_path, _RACE) as sim:
        git_repository(sim.project)
        run = await run_mission(sim, tap=tap)
        left = _worktrees(sim.project)
        on_disk = _checkouts(sim.project)
    assert run.state is MissionState.CANCELLED, run.model.reason
    assert seen == [3], "the race was under way when the cancel came"
    assert left == []
    assert on_disk == []


async def test_a_budget_spent_mid_race_removes_its_worktrees(tmp_path: Path) -> None:
    tap = Tap()

    def spend_mid_race(record_type: str, data: dict[str, Any]) -> None:
        if _a_strategy_works(record_type, data):
            assert tap.engine is not None
            budget: Budget = tap.engine.ctx.budget
            budget.add_usage(10**9, 0.0)

    tap.on(spend_mid_race)
    config = MissionConfig(budget=BudgetConfig(max_tokens=10**8))
    async with simulated(tmp_path, _RACE) as sim:
        git_repository(sim.project)
        run = await run_mission(sim, config, tap=tap)
        left = _worktrees(sim.project)
        on_disk = _checkouts(sim.project)
    assert run.state is MissionState.BUDGET_EXCEEDED, run.model.reason
    assert any(u.race_of == "u01" for u in run.model.units.values())
    assert left == []
    assert on_disk == []


async def test_a_crash_mid_race_keeps_the_worktrees_and_a_cancel_then_removes_them(
    tmp_path: Path,
) -> None:
    # A stop that is not final (a crash, SIGTERM) keeps them for the resume; the
    # `cancel` CLI, recording the cancel of a mission nobody runs, removes them.
    async with simulated(tmp_path, _RACE) as sim:
        git_repository(sim.project)
        mission_id, cut = await run_until_cut(sim, _a_strategy_works)
        assert cut
        kept = _worktrees(sim.project)
        journal = await Journal.open(
            mission_wal_dir(sim.project, mission_id), durability=Durability.NONE
        )
        try:
            await record_cancel(journal, "cancelled on request (no process was running it)")
            state = journal.model.state
        finally:
            await journal.close()
        left = _worktrees(sim.project)
        on_disk = _checkouts(sim.project)
    assert len(kept) == 3
    assert state is MissionState.CANCELLED
    assert left == []
    assert on_disk == []


async def test_a_winning_patch_that_conflicts_fails_the_unit_and_keeps_the_users_file(
    tmp_path: Path,
) -> None:
    # While the strategies run, the user creates the very file they create: the
    # winner's patch cannot apply. That once raised out of the race, leaving the
    # mission "resumable" and every resume failing the same way.
    mine = "# the user's own module\n"
    tap = Tap()

    def user_writes(record_type: str, data: dict[str, Any]) -> None:
        if record_type == RecordType.PLAN_ACCEPTED and data.get("race"):
            target = sim.project / "src/u01/mod1.py"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(mine)

    tap.on(user_writes)
    async with simulated(tmp_path, _RACE) as sim:
        git_repository(sim.project)
        run = await run_mission(sim, tap=tap)
        left = _worktrees(sim.project)
        on_disk = _checkouts(sim.project)
        content = (sim.project / "src/u01/mod1.py").read_text()
        again = await resume_mission(sim, run.mission_id)
    assert run.state is MissionState.FAILED, run.model.reason
    u01 = run.model.units["u01"]
    assert u01.state is UnitState.FAILED
    assert "src/u01/mod1.py" in u01.reason
    assert "kept" in u01.reason
    assert run.model.units["u02"].state is not UnitState.VERIFIED  # it depends on u01
    assert content == mine
    assert left == []
    assert on_disk == []
    assert again.state is MissionState.FAILED


async def test_a_conflicting_patch_names_the_files_it_conflicts_on(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git_repository(project, {"a.txt": "one\ntwo\n"})
    worktree = await create_worktree(project, "w")
    (worktree / "a.txt").write_text("one\nfrom the worktree\n")
    (worktree / "new.txt").write_text("new\n")
    patch = await worktree_patch(worktree)
    (project / "a.txt").write_text("one\nfrom the user\n")
    (project / "new.txt").write_text("the user's\n")
    with pytest.raises(PatchConflictError) as caught:
        await apply_patch(project, patch)
    assert set(caught.value.files) == {"a.txt", "new.txt"}
    assert (project / "new.txt").read_text() == "the user's\n"
