"""The Commander: one mission from goal to SEALED (or an honest stop), crash-resumable.

::

    create ─► PLANNING ─► RUNNING ─► BARRIER ─► INTEGRATION_REVIEW ─► SEALED
                 ▲                                       │
                 └────────── findings, iteration + 1 ◄───┘

    budget cap ─► BUDGET_EXCEEDED    cancel ─► CANCELLED    no progress ─► BLOCKED

:meth:`MissionEngine.run` is the same code for a new and a resumed mission:
it reads the journaled state and carries on from it. While the engine is
open, every record logged in its task tree carries the ``mission_id`` and also
goes to the mission's ``mission.log`` (:func:`mission_log_path`). Around the phases run
the event router, a wall-time watchdog and a cancel watcher; a budget breach
or a cancel aborts every busy child session of the mission before the final
state is journaled. The final state is the engine's last record: a cancel
asked for once the mission is ending is not journaled.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from opencode_orchestrator.log import LogSettings, get_logger, mission_log
from opencode_orchestrator.mission.budget import Budget
from opencode_orchestrator.mission.cancelling import (
    cancel_request_path,
    cancel_unfinished_units,
)
from opencode_orchestrator.mission.checks import record_passed
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.errors import BudgetExceededError, MissionStateError
from opencode_orchestrator.mission.integration import integrate, plan
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.knowledge import KnowledgeFile
from opencode_orchestrator.mission.pool import AdaptivePool
from opencode_orchestrator.mission.racing import remove_race_worktrees
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.router import EventRouter
from opencode_orchestrator.mission.scheduler import Scheduler
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.opencode.client import OpenCodeClient
from opencode_orchestrator.opencode.errors import OpenCodeError
from opencode_orchestrator.wal.log import Durability
from opencode_orchestrator.wal.paths import mission_wal_dir

__all__ = ["MissionEngine", "mission_log_path", "new_mission_id"]

_log = get_logger(__name__)
_M = MissionState


def new_mission_id() -> str:
    """A fresh mission id: sortable by time, unguessable."""
    return f"m{int(time.time()):x}{secrets.token_hex(3)}"


def mission_log_path(project: Path, mission_id: str) -> Path:
    """The mission's own log file (JSON lines; rotated to ``mission.log.1`` …)."""
    return mission_wal_dir(project, mission_id).parent / "mission.log"


@asynccontextmanager
async def _open_journal(
    project: Path,
    mission_id: str,
    durability: Durability,
    sync_interval: float,
    log: LogSettings | None,
) -> AsyncIterator[Journal]:
    """The mission's journal, its ``mission.log`` routed for as long as it is open."""
    async with mission_log(mission_id, mission_log_path(project, mission_id), log):
        journal = await Journal.open(
            mission_wal_dir(project, mission_id), durability=durability, sync_interval=sync_interval
        )
        try:
            yield journal
        finally:
            await journal.close()


class MissionEngine:
    """Runs one mission over an OpenCode server."""

    def __init__(self, ctx: MissionContext) -> None:
        """Use :meth:`create` or :meth:`resume`."""
        self.ctx = ctx
        self._cancel = anyio.Event()
        self._finishing = False
        """Set once a final state is being journaled: a cancel has nothing left to stop."""

    # -- construction -----------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def create(
        cls,
        project: Path,
        goal: str,
        client: OpenCodeClient,
        *,
        config: MissionConfig | None = None,
        parent_session: str | None = None,
        mission_id: str | None = None,
        durability: Durability = Durability.ALWAYS,
        sync_interval: float = 0.05,
        log: LogSettings | None = None,
    ) -> AsyncIterator[MissionEngine]:
        """A new mission (journaled at once); closes its journal and log file on exit.

        ``log`` sets its ``mission.log`` (default: the process's, see
        :func:`~opencode_orchestrator.log.configure_logging`); ``durability`` and
        ``sync_interval`` are its journal's (:meth:`Journal.open`).
        """
        config = config or MissionConfig()
        mission_id = mission_id or new_mission_id()
        opened = _open_journal(project, mission_id, durability, sync_interval, log)
        created = False
        try:
            async with opened as journal:
                if parent_session is None:
                    title = f"mission {mission_id}: {goal[:80]}"
                    parent_session = (await client.create_session(title=title)).id
                await journal.write(
                    RecordType.MISSION_CREATED,
                    {
                        "mission_id": mission_id,
                        "goal": goal,
                        "project": str(project),
                        "parent_session": parent_session,
                        "config": config.model_dump(mode="json"),
                        "created_at": time.time(),
                    },
                )
                created = True
                yield cls(_context(project, config, journal, client, Budget(config.budget)))
        finally:
            if not created:
                # Never created (OpenCode did not answer, say): nothing to list or resume,
                # and an empty log left behind would read as a damaged mission.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_discard_unborn, project, mission_id)

    @classmethod
    @asynccontextmanager
    async def resume(
        cls,
        project: Path,
        mission_id: str,
        client: OpenCodeClient,
        *,
        durability: Durability = Durability.ALWAYS,
        sync_interval: float = 0.05,
        log: LogSettings | None = None,
    ) -> AsyncIterator[MissionEngine]:
        """An existing mission, rebuilt from its journal; its ``mission.log`` is appended to.

        Raises:
            MissionStateError: the journal holds no mission.
            WalError: the journal is locked (the mission runs elsewhere) or damaged.
        """
        opened = _open_journal(project, mission_id, durability, sync_interval, log)
        async with opened as journal:
            model = journal.model
            if not model.created:
                raise MissionStateError(f"mission {mission_id} has no journal to resume")
            _log.info("mission.resumed", state=str(model.state), iteration=model.iteration)
            config = MissionConfig.model_validate(model.config)
            budget = Budget(
                config.budget,
                used_tokens=model.tokens,
                used_cost=model.cost,
                elapsed_before=max(0.0, model.last_ts - model.created_at),
            )
            yield cls(_context(project, config, journal, client, budget))

    # -- running ----------------------------------------------------------------------

    def request_cancel(self) -> None:
        """Ask the mission to stop: busy sessions are aborted, the mission ends CANCELLED."""
        self._cancel.set()

    async def run(self) -> MissionState:
        """Run (or resume) the mission to a final state and return it.

        Raises:
            OpenCodeError: OpenCode stayed unreachable (or failing) past
                ``timeouts.server_patience``; the journal is intact: ``resume`` later.
            ReviewUnavailableError: the master reviewer gave no verdict, asked twice;
                the mission stays in INTEGRATION_REVIEW: ``resume`` asks again.
            WalError: the journal failed (fail-stop).
        """
        try:
            return await self._run()
        except BaseExceptionGroup as group:
            # Task groups wrap what went wrong; the caller deserves the error itself.
            leaf = _first_error(group)
            if leaf is None:
                raise
            raise leaf from group

    async def _run(self) -> MissionState:
        ctx = self.ctx
        if ctx.model.state.final:
            # Ended before, its worktrees maybe not removed yet (a crash right after).
            await self._remove_worktrees()
            return ctx.model.state
        knowledge = await KnowledgeFile(ctx.project).read()
        outcome: MissionState | None = None
        reason = ""
        async with anyio.create_task_group() as tg:
            ctx.task_group = tg
            await tg.start(ctx.router.run)
            tg.start_soon(self._watch_cancel_file)
            try:
                try:
                    with anyio.CancelScope() as scope:
                        tg.start_soon(self._cancel_on_request, scope)
                        await self._phases(knowledge)
                    if scope.cancelled_caught:
                        outcome, reason = _M.CANCELLED, "cancelled on request"
                except* BudgetExceededError as group:
                    outcome, reason = _M.BUDGET_EXCEEDED, str(_innermost(group))
                if outcome is not None:
                    await self._abort_all()
                    if ctx.model.cancel_requested is False and outcome is _M.CANCELLED:
                        await ctx.journal.write(RecordType.MISSION_CANCEL, {})
                    await self._finish(outcome, reason)
            finally:
                # Worktrees' clients are closed however the run ends (an error too),
                # or their connection pools outlive the engine.
                with anyio.CancelScope(shield=True):
                    for directory in list(ctx.extra_clients):
                        await ctx.detach_directory(directory)
            tg.cancel_scope.cancel()
        return ctx.model.state

    async def _phases(self, knowledge: str) -> None:
        ctx = self.ctx
        model = ctx.model
        with anyio.CancelScope() as wall:
            limit = ctx.config.budget.max_wall_seconds
            if limit is not None:
                wall.deadline = anyio.current_time() + max(0.0, limit - ctx.budget.elapsed())
            while not model.state.final:
                state = model.state
                if state is _M.PLANNING:
                    await self._plan(knowledge)
                elif state is _M.RUNNING:
                    await Scheduler(ctx, knowledge=knowledge).run()
                    await self._barrier()
                elif state is _M.BARRIER:
                    await self._set(_M.INTEGRATION_REVIEW, "barrier held: every unit is final")
                elif state is _M.INTEGRATION_REVIEW:
                    await self._integrate(knowledge)
                exceeded = ctx.budget.exceeded()
                if exceeded is not None and not model.state.final:
                    raise exceeded
        if wall.cancelled_caught:
            raise BudgetExceededError("wall_time", ctx.budget.elapsed(), limit or 0.0)

    async def _plan(self, knowledge: str) -> None:
        model = self.ctx.model
        goal = model.goal
        if model.iteration > 1 and model.master_verdicts:
            findings = [f["message"] for f in model.master_verdicts[-1].get("findings", [])]
            failed = [c["command"] for c in model.check_results if not record_passed(c)]
            goal = (
                f"{model.goal}\n\nThe integration review of iteration {model.iteration - 1} "
                "found problems; plan only the work that fixes them:\n"
                + "\n".join(f"- {f}" for f in findings)
                + "".join(f"\n- check failed: `{c}`" for c in failed)
            )
        # A plan accepted just before a crash is not asked for again: its units exist.
        planned = any(
            u.iteration == model.iteration and u.parent is None for u in model.units.values()
        )
        problem = None if planned else await plan(self.ctx, goal, knowledge=knowledge)
        if problem is not None:
            await self._finish(_M.FAILED, problem)
            return
        await self._set(_M.RUNNING, f"plan of iteration {model.iteration} accepted")
        await self._remember(model.plan_learnings, "planner")

    async def _remember(self, entries: list[str], source: str) -> None:
        """Keep findings worth keeping in the project's knowledge file (never fatal)."""
        if not entries:
            return
        try:
            await KnowledgeFile(self.ctx.project).add(entries, source=source)
        except OSError as exc:
            _log.warning("mission.knowledge.write_failed", error=str(exc))

    async def _barrier(self) -> None:
        units = self.ctx.model.units.values()
        learned = [entry for u in units if u.state is UnitState.VERIFIED for entry in u.learnings]
        await self._remember(learned, f"mission {self.ctx.mission_id}")
        await self._set(_M.BARRIER, f"{len(self.ctx.model.units)} unit(s) final")
        top_failed = [
            u
            for u in units
            if u.state is not UnitState.VERIFIED and u.parent is None and u.race_of is None
        ]
        if top_failed:
            names = ", ".join(f"{u.id} ({u.state}: {u.reason[:120]})" for u in top_failed[:10])
            await self._finish(_M.FAILED, f"{len(top_failed)} unit(s) not verified: {names}")

    async def _integrate(self, knowledge: str) -> None:
        ctx = self.ctx
        model = ctx.model
        if model.sealed_evidence is not None:
            # Sealed (its evidence journaled) just before a crash that came before the
            # final state: the seal stands; nothing is checked or reviewed again.
            await self._finish(_M.SEALED, "every seal condition verified")
            return
        # The earlier iterations' fingerprints: this one's may be journaled already
        # (a crash after the master's verdict), and is no sign of a loop.
        previous = list(model.fingerprints[: model.iteration - 1])
        result = await integrate(ctx, knowledge=knowledge)
        if result.sealed:
            await ctx.journal.write(RecordType.MISSION_SEALED, {"evidence": result.evidence})
            await self._finish(_M.SEALED, "every seal condition verified")
            return
        if result.fingerprint in previous:
            await self._finish(
                _M.BLOCKED, "no progress: the same findings and the same diff as before"
            )
            return
        if model.iteration >= ctx.config.limits.max_iterations:
            await self._finish(
                _M.FAILED,
                f"not sealed after {model.iteration} iteration(s): "
                + "; ".join(result.findings[:5]),
            )
            return
        await ctx.journal.write(
            RecordType.MISSION_STATE,
            {
                "state": _M.PLANNING.value,
                "reason": "integration findings: " + "; ".join(result.findings[:5]),
                "iteration": model.iteration + 1,
            },
        )

    async def _set(self, state: MissionState, reason: str) -> None:
        await self.ctx.journal.write(
            RecordType.MISSION_STATE,
            {"state": state.value, "reason": reason, "iteration": self.ctx.model.iteration},
        )

    async def _finish(self, state: MissionState, reason: str) -> None:
        if self.ctx.model.state.final:
            return
        self._finishing = True
        _log.info("mission.finished", mission=self.ctx.mission_id, state=str(state), reason=reason)
        await self._close_open_turns(state)
        if state is _M.CANCELLED:
            await cancel_unfinished_units(self.ctx.journal, "the mission was cancelled")
        elif state is _M.BUDGET_EXCEEDED:
            await cancel_unfinished_units(self.ctx.journal, "the budget ran out")
        await self._set(state, reason)
        await self._remove_worktrees()

    async def _remove_worktrees(self) -> None:
        """Remove the worktrees of the mission's races, ended or not: it is final.

        After the final state, so a crash before it (a stop that is not final)
        keeps them for the resume. Shielded: once begun, a removal is finished.
        """
        with anyio.CancelScope(shield=True):
            await remove_race_worktrees(self.ctx.project, self.ctx.model.units.values())

    async def _close_open_turns(self, state: MissionState) -> None:
        """End every turn still open (an advisory shadow review, say): nothing dangles."""
        ctx = self.ctx
        for turn in list(ctx.model.turns.values()):
            directory = ctx.model.session_directory(turn)
            client = (
                ctx.extra_clients[directory][0] if directory in ctx.extra_clients else ctx.client
            )
            try:
                await client.abort(turn.session)
            except OpenCodeError as exc:
                _log.warning("mission.abort_failed", session=turn.session, error=str(exc))
            tokens, cost = ctx.unrecorded_usage.pop(turn.id, (0, 0.0))
            ctx.budget.add_usage(tokens, cost)
            await ctx.journal.write(
                RecordType.TURN_ENDED,
                {
                    "turn": turn.id,
                    "status": "aborted",
                    "error": f"mission {state.value}",
                    "tokens": tokens,
                    "cost": cost,
                },
            )

    # -- cancel and abort ---------------------------------------------------------------

    async def _cancel_on_request(self, scope: anyio.CancelScope) -> None:
        await self._cancel.wait()
        if self._finishing or self.ctx.model.state.final:
            # The mission is ending its own way: the final state is the last record,
            # and a cancel now would only interrupt the journaling of it.
            return
        if not self.ctx.model.cancel_requested:
            await self.ctx.journal.write(RecordType.MISSION_CANCEL, {})
        scope.cancel()

    async def _watch_cancel_file(self) -> None:
        # Another process (the `cancel` CLI) can't reach this one's memory; a
        # file next to the journal is the simplest durable request it can make.
        path = cancel_request_path(self.ctx.project, self.ctx.mission_id)
        while not self._cancel.is_set():
            if await anyio.Path(path).exists():
                self.request_cancel()
                return
            await anyio.sleep(0.5)

    async def _abort_all(self) -> None:
        """Abort every session of the mission that may still be busy."""
        ctx = self.ctx
        sessions = {t.session for t in ctx.model.turns.values()}
        with anyio.move_on_after(ctx.config.timeouts.abort_grace * 2, shield=True):
            async with anyio.create_task_group() as tg:
                for session in sessions:
                    tg.start_soon(self._abort_one, session)

    async def _abort_one(self, session: str) -> None:
        try:
            await self.ctx.client.abort(session)
        except OpenCodeError as exc:
            _log.warning("mission.abort_failed", session=session, error=str(exc))


def _discard_unborn(project: Path, mission_id: str) -> None:
    """Remove the journal and log of a mission whose creation was never journaled.

    Its directory goes too, unless something else lives there (``run --sim``'s
    simulator state, still open while this runs).
    """
    wal = mission_wal_dir(project, mission_id)
    log = mission_log_path(project, mission_id)
    shutil.rmtree(wal, ignore_errors=True)
    for path in (log, *log.parent.glob(log.name + ".*")):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        wal.parent.rmdir()


def _innermost(error: BaseException) -> BaseException:
    """The first error at the bottom of nested exception groups (one per task group)."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _first_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found = _first_error(exc)
            if found is not None:
                return found
        elif isinstance(exc, Exception):
            return exc
    return None


def _context(
    project: Path,
    config: MissionConfig,
    journal: Journal,
    client: OpenCodeClient,
    budget: Budget,
) -> MissionContext:
    return MissionContext(
        project=project,
        config=config,
        journal=journal,
        client=client,
        router=EventRouter(client, patience=config.timeouts.server_patience),
        pool=AdaptivePool(config.limits, config.adaptive),
        budget=budget,
    )
