"""Speculative racing: k strategies for one unit, each in its own git worktree.

A unit with ``race`` > 1 (capped by ``limits.max_race``) in a git project is not
dispatched itself: k strategy units ``<unit>.r1 … <unit>.rk`` join the mission,
each bound to a fresh worktree that starts from the project's current state,
and the unit becomes DELEGATED. Each strategy runs the whole unit pipeline
(worker, shadow review, checks, final review) in its worktree, and the
sub-units a strategy splits into work in that worktree too. The first one
verified wins:

1. the other strategies are cancelled, with the sub-units they split into,
   their busy sessions aborted (CANCELLED);
2. ``race.won`` is journaled;
3. the winner's change (``git diff`` of its worktree) is applied to the
   project, once: a resumed mission sees it already applied and skips it;
4. every strategy's worktree is removed and the losers' sessions (their
   sub-units' too) deleted;
5. the unit is VERIFIED with the winner's report and verdict.

If the winner's change conflicts with the project (the user wrote one of its
files meanwhile), nothing is applied: the user's files are kept, the
worktrees removed, and the unit FAILED with a reason naming the files. That
end is journaled, so a resume does not try the patch again.

When the mission ends (any final state, also with a race still running),
:func:`remove_race_worktrees` removes every worktree left; a stop that is not
final (a crash, SIGTERM, OpenCode unreachable) keeps them for the resume.

While the race runs, the unit's file scope stays held in the project, so no
other unit can write there and make the winning patch conflict.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.errors import WorktreeError
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import UnitState
from opencode_orchestrator.mission.worktrees import (
    WORKTREES_DIR,
    PatchConflictError,
    apply_patch,
    create_worktree,
    is_git_repo,
    remove_worktree,
    run_git,
    worktree_patch,
)
from opencode_orchestrator.opencode.errors import OpenCodeError

if TYPE_CHECKING:
    from opencode_orchestrator.mission.model import UnitModel
    from opencode_orchestrator.mission.units import UnitRunner

__all__ = ["finish_race", "remove_race_worktrees", "start_race"]

_log = get_logger(__name__)
_STRATEGY = (
    "\n\nYou are strategy {n} of {k} racing for this unit, each in its own copy of the "
    "project; the first verified result wins. Take approach #{n}: if several designs "
    "are sensible, pick the {nth} most promising one rather than the obvious first."
)
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


async def start_race(runner: UnitRunner) -> bool:
    """Journal the unit's strategies and delegate to them; ``False`` if it runs normally."""
    ctx = runner.ctx
    unit = runner.unit
    limits = ctx.config.limits
    width = min(unit.spec.race, limits.max_race)
    if width <= 1 or unit.race_of is not None or unit.attempt > 0:
        return False
    # Strategies are units of the mission: they count against its cap.
    room = limits.max_units - len(ctx.model.units)
    if room < 2:
        _log.warning("mission.race.skipped", unit=unit.id, why="limits.max_units reached")
        return False
    width = min(width, room)
    if not await is_git_repo(ctx.project):
        _log.warning("mission.race.skipped", unit=unit.id, why="the project is not a git repo")
        return False
    specs = []
    directories: dict[str, str] = {}
    for n in range(1, width + 1):
        strategy_id = f"{unit.id}.r{n}"
        name = f"{ctx.mission_id}-{unit.id}-r{n}"
        stale = ctx.project / WORKTREES_DIR / name
        await remove_worktree(ctx.project, stale)  # left by a crash before the record below
        try:
            directories[strategy_id] = str(await create_worktree(ctx.project, name))
        except WorktreeError as exc:
            # e.g. a repository without commits, or a project below the repo's top level.
            _log.warning("mission.race.skipped", unit=unit.id, why=str(exc))
            for made in directories.values():
                await remove_worktree(ctx.project, Path(made))
            return False
        note = _STRATEGY.format(n=n, k=width, nth=_ORDINALS[n - 1])
        specs.append(
            unit.spec.model_copy(
                update={
                    "id": strategy_id,
                    "race": 1,
                    "depends_on": [],
                    "description": unit.spec.description + note,
                }
            )
        )
    await ctx.journal.write(
        RecordType.PLAN_ACCEPTED,
        {
            "iteration": unit.iteration,
            "parent_unit": unit.id,
            "summary": f"{width} racing strategies",
            "units": [s.model_dump(mode="json") for s in specs],
            "race": True,
            "directories": directories,
        },
    )
    await runner.transition(UnitState.DELEGATED, f"racing {width} strategies")
    return True


async def finish_race(runner: UnitRunner) -> None:
    """Crown the first verified strategy (or fail the unit if none was)."""
    ctx = runner.ctx
    unit = runner.unit
    units = ctx.model.units
    strategies = [units[c] for c in unit.children]
    verified = sorted(
        (s for s in strategies if s.state is UnitState.VERIFIED),
        key=lambda s: s.ended_at or 0.0,
    )
    if not verified:
        await _cleanup(runner, winner=None)
        reasons = "; ".join(f"{s.id}: {s.reason[:200]}" for s in strategies)
        await runner.transition(UnitState.FAILED, f"no strategy was verified ({reasons})")
        return
    winner = verified[0]
    for strategy in strategies:
        if strategy is winner:
            continue
        # A loser's sub-units go with it, also after a crash that came between the
        # loser's end and theirs. The strategy first: once its sub-units were all
        # final, its own runner would end it FAILED ("sub-unit(s) not verified").
        for uid in _subtree(units, strategy.id):
            if units[uid].state.final:
                continue
            await ctx.cancel_unit(uid)
            await _abort_sessions(runner, uid)
            if units[uid].state.final:  # re-read: the awaits above let it move on
                # It ended while its runner was being stopped (verified a moment
                # after the winner, say): it lost all the same, and keeps its end.
                continue
            await runner.ctx.journal.write(
                RecordType.UNIT_STATE,
                {"unit": uid, "state": "cancelled", "reason": f"{winner.id} won"},
            )
    if unit.won_by is None:
        index = int(winner.id.rsplit(".r", 1)[1])
        await ctx.journal.write(
            RecordType.RACE_WON,
            {"unit": unit.id, "attempt": index, "directory": winner.directory or ""},
        )
    if winner.directory and await anyio.Path(winner.directory).exists():
        patch = await worktree_patch(Path(winner.directory))
        try:
            await _apply_once(ctx.project, patch)
        except PatchConflictError as exc:
            # Retrying cannot help (the project's files are the user's): the unit
            # ends here, journaled, and the mission goes on without its change.
            _log.warning("mission.race.patch_conflict", unit=unit.id, error=str(exc))
            await _cleanup(runner, winner=winner.id)
            await runner.transition(UnitState.FAILED, _conflict_reason(winner.id, exc))
            return
    await _cleanup(runner, winner=winner.id)
    await runner.transition(UnitState.VERIFIED, f"race won by {winner.id}")


def _conflict_reason(winner: str, exc: PatchConflictError) -> str:
    if exc.files:
        shown = ", ".join(exc.files[:10]) + (" …" if len(exc.files) > 10 else "")
        what = f"conflicts with the project's current {shown}"
    else:
        what = f"does not apply to the project ({str(exc)[-300:]})"
    return (
        f"race won by {winner}, but its change {what}, changed in the project while "
        "the strategies ran; the user's file(s) were kept and the change was discarded"
    )


async def remove_race_worktrees(project: Path, units: Iterable[UnitModel]) -> int:
    """Remove every race worktree of ``units`` still on disk, then ``git worktree prune``.

    For a mission that reached a final state: nothing will run in them again.
    Never raises: a worktree that cannot be removed is logged and left. Returns
    how many were removed.
    """
    directories = sorted({u.directory for u in units if u.directory})
    if not directories:
        return 0
    removed = 0
    for directory in directories:
        path = Path(directory)
        try:
            if not await anyio.to_thread.run_sync(os.path.lexists, path):
                continue
            await remove_worktree(project, path)
            removed += 1
        except (WorktreeError, OSError) as exc:
            _log.warning("mission.race.worktree_left", worktree=directory, error=str(exc))
    try:
        await run_git(project, "worktree", "prune")
    except WorktreeError as exc:
        _log.warning("mission.race.prune_failed", project=str(project), error=str(exc))
    if removed:
        _log.info("mission.race.worktrees_removed", project=str(project), count=removed)
    return removed


async def patch_applied(project: Path, patch: bytes) -> bool:
    """Whether ``patch`` is already applied to ``project`` (it reverses cleanly)."""
    if not patch:
        return True
    result = await anyio.run_process(
        ["git", "-C", str(project), "apply", "--binary", "--reverse", "--check", "-"],
        input=patch,
        check=False,
    )
    return result.returncode == 0


async def _apply_once(project: Path, patch: bytes) -> None:
    if await patch_applied(project, patch):
        _log.info("mission.race.patch_already_applied", project=str(project))
        return
    await apply_patch(project, patch)


def _subtree(units: dict[str, UnitModel], root: str) -> list[str]:
    """``root`` and every unit it delegated to, at any depth, parents before children."""
    order = [root]
    for uid in order:
        order.extend(units[uid].children)
    return order


async def _abort_sessions(runner: UnitRunner, unit_id: str) -> None:
    strategy = runner.ctx.model.units[unit_id]
    async with runner.ctx.client_in(strategy.directory) as client:
        for session in strategy.sessions.values():
            try:
                await client.abort(session)
            except OpenCodeError as exc:
                _log.warning("mission.race.abort_failed", session=session, error=str(exc))


async def _cleanup(runner: UnitRunner, *, winner: str | None) -> None:
    ctx = runner.ctx
    units = ctx.model.units
    for child in runner.unit.children:
        strategy = units[child]
        if strategy.directory is None:
            continue
        if child != winner:
            async with ctx.client_in(strategy.directory) as client:
                for uid in _subtree(units, child):
                    for session in units[uid].sessions.values():
                        try:
                            await client.delete_session(session)
                        except OpenCodeError as exc:
                            _log.warning(
                                "mission.race.delete_failed", session=session, error=str(exc)
                            )
        await ctx.detach_directory(strategy.directory)
        await remove_worktree(ctx.project, Path(strategy.directory))
