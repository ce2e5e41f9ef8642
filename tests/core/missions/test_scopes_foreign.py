"""scope/check for the sessions of missions this core does not run: read from their journals.

Found in real OpenCode: a mission a terminal ran with ``run --server``, and every
racing strategy (its worktree is an OpenCode instance of its own, with a core of
its own), wrote outside their scopes, since the core asked knew none of their
sessions and let them write anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator.core.missions.foreign import project_of
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState
from tests.core.missions.harness import Shim, core_session
from tests.mission import journals

pytestmark = pytest.mark.anyio


def _worktree(project: Path) -> Path:
    return project / ".opencode" / "orchestrator" / "worktrees" / "mx-u2-r1"


async def _mission_of_another_process(project: Path, mission_id: str = "mx") -> None:
    """u1's worker in the project, and u2's worker in a racing strategy's worktree."""
    journal = await journals.open_journal(project, mission_id)
    try:
        await journals.create(journal, mission_id, project)
        await journals.plan(journal, ["u1", "u2"])  # scopes u1.txt and u2.txt
        await journals.start_unit(journal, "u1")  # ses_u1_1
        await journals.start_unit(journal, "u2")
        created = {"session": "ses_race", "role": "worker", "unit": "u2", "attempt": 1}
        await journal.write(
            RecordType.SESSION_CREATED, created | {"directory": str(_worktree(project))}
        )
    finally:
        await journal.close()


def _check(shim: Shim, session: str, *paths: str) -> Any:
    return shim.call("scope/check", {"sessionId": session, "tool": "write", "paths": paths})


async def test_the_projects_core_polices_a_mission_another_process_runs(tmp_path: Path) -> None:
    await _mission_of_another_process(tmp_path)
    async with core_session(None, directory=str(tmp_path)) as shim:
        allowed = await _check(shim, "ses_u1_1", str(tmp_path / "u1.txt"))
        refused = await _check(shim, "ses_u1_1", "stray.txt")
        users_own = await _check(shim, "ses_of_the_user", "stray.txt")
    assert allowed == {"allowed": True, "missionId": "mx", "unitId": "u1"}
    assert refused["allowed"] is False
    assert "stray.txt is outside the file scope of unit u1 (mission mx)" in refused["reason"]
    assert users_own == {"allowed": True}


async def test_a_worktrees_core_polices_the_racing_strategy_working_there(tmp_path: Path) -> None:
    await _mission_of_another_process(tmp_path)
    worktree = _worktree(tmp_path)
    async with core_session(None, directory=str(worktree)) as shim:
        inside = await _check(shim, "ses_race", str(worktree / "u2.txt"))
        stray = await _check(shim, "ses_race", str(worktree / "stray.txt"))
        in_the_project = await _check(shim, "ses_race", str(tmp_path / "u2.txt"))
    assert inside["allowed"] is True
    assert stray["allowed"] is False
    assert in_the_project["allowed"] is False, "a strategy writes in its worktree only"
    assert f"not inside {worktree}" in in_the_project["reason"]


async def test_sessions_made_after_a_check_are_found_and_an_ended_mission_is_let_go(
    tmp_path: Path,
) -> None:
    await _mission_of_another_process(tmp_path)
    async with core_session(None, directory=str(tmp_path)) as shim:
        assert (await _check(shim, "ses_new", "stray.txt")) == {"allowed": True}
        journal = await journals.open_journal(tmp_path, "mx")
        try:
            created = {"session": "ses_new", "role": "reviewer", "unit": "u1", "attempt": 1}
            await journal.write(RecordType.SESSION_CREATED, created)
            refused = await _check(shim, "ses_new", "u1.txt")
            await journals.finish(journal, MissionState.CANCELLED, "cancelled on request")
        finally:
            await journal.close()
        after_the_end = await _check(shim, "ses_new", "u1.txt")
    assert refused["allowed"] is False
    assert "this session is the reviewer for unit u1 of mission mx" in refused["reason"]
    assert after_the_end == {"allowed": True}


@pytest.mark.parametrize(
    ("directory", "project"),
    [
        ("/repo", "/repo"),
        ("/repo/", "/repo"),
        ("/repo/.opencode/orchestrator/worktrees/m1-u2-r1", "/repo"),
        (
            "/repo/.opencode/orchestrator/worktrees/m1-u2-r1/src",
            "/repo/.opencode/orchestrator/worktrees/m1-u2-r1/src",
        ),
        ("/repo/.opencode/orchestrator/worktrees", "/repo/.opencode/orchestrator/worktrees"),
    ],
)
def test_the_project_of_a_directory(directory: str, project: str) -> None:
    assert project_of(directory) == Path(project)
