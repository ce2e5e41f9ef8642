"""The RUNNING phase: promote units along the DAG, run them, hold the barrier.

* A PENDING unit becomes READY when all its dependencies are VERIFIED, and
  SKIPPED when one of them ended any other way (transitively).
* Startable units (READY, or mid-attempt after a resume, or DELEGATED with all
  sub-units final) get a :class:`~opencode_orchestrator.mission.units.UnitRunner`
  task, critical path first, unless their file scope overlaps a unit already
  running (:class:`~opencode_orchestrator.mission.scopes.ScopeIndex`).
  Runners do not hold pool slots; each of their turns does. At most
  :data:`RUNNERS_PER_SLOT` runners per slot run at once: units with a turn in
  flight (after a resume) first, then units under way, then fresh READY ones.
  After a resume, nothing else starts until the turns in flight at the crash
  have ended (:data:`ADOPTION_HOLD` at most).
* The phase ends (the barrier) when every unit is final, in whatever order
  they finished.

Work is incremental: a finished runner re-evaluates only its unit's
dependents and the units its scope was holding back, so a 10,000-unit DAG
costs O(units + edges) bookkeeping, not a scan per event.
"""

from __future__ import annotations

from collections import defaultdict

import anyio
from anyio.abc import TaskGroup

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.plan import critical_path
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.scopes import ScopeIndex
from opencode_orchestrator.mission.states import UnitState
from opencode_orchestrator.mission.units import UnitRunner

__all__ = ["Scheduler"]

_log = get_logger(__name__)
_U = UnitState

ADOPTION_HOLD = 5.0
"""After a resume, seconds fresh units wait for the turns in flight at the crash to end.

Fresh runners' session creations and prompts competed with the adoptions'
requests: in the mission benchmark (60 turns in flight, 1,000 units) adoption
took 3.2-3.7 s with them and ~1.0 s without."""
_ADOPTION_POLL = 0.05

RUNNERS_PER_SLOT = 2
"""Unit runners at once per slot of ``limits.concurrency``: enough to keep every
slot busy while other runners are between turns (creating a session, writing
the journal, running checks). Unbounded, every READY unit of a wide plan got a
runner at once, and 2,000 of them creating their sessions together exhausted
the HTTP client's connection pool (``PoolTimeout``: the mission crashed)."""


class Scheduler:
    """Runs a mission's units until every one is final."""

    def __init__(self, ctx: MissionContext, *, knowledge: str) -> None:
        """Schedule ``ctx``'s units; ``knowledge`` is handed to every prompt."""
        self.ctx = ctx
        self.knowledge = knowledge
        self._running: set[str] = set()
        self._queued: set[str] = set()
        self._dependents: dict[str, list[str]] = defaultdict(list)
        self._known: set[str] = set()
        self._priority: dict[str, int] = {}
        self._scopes = ScopeIndex()
        self._wake = anyio.Event()
        self._holding: set[str] = set()
        self._deciding: set[str] = set()
        """Pending units whose READY or SKIPPED is being journaled by some task."""
        """Race parents: their scope stays held in the project while strategies run."""
        self._tasks: dict[str, tuple[anyio.CancelScope, anyio.Event]] = {}
        self._max_running = RUNNERS_PER_SLOT * ctx.config.limits.concurrency
        ctx.unit_canceller = self._cancel_unit

    async def _cancel_unit(self, uid: str) -> None:
        entry = self._tasks.get(uid)
        if entry is None:
            return
        scope, finished = entry
        scope.cancel()
        await finished.wait()

    def _index_new_units(self) -> list[str]:
        units = self.ctx.model.units
        # Units are only ever added: an unchanged count means nothing new, and
        # scanning every unit on each unit's end made a 10,000-unit run quadratic.
        if len(units) == len(self._known):
            return []
        new = [uid for uid in units if uid not in self._known]
        for uid in new:
            self._known.add(uid)
            unit = units[uid]
            for dep in unit.spec.depends_on:
                self._dependents[dep].append(uid)
            if unit.directory is None and not unit.state.final:
                self._scopes.add(uid, unit.spec.files)
        self._priority = critical_path([u.spec for u in units.values()])
        return new

    async def run(self) -> None:
        """Until every unit is final (the barrier)."""
        units = self.ctx.model.units
        async with anyio.create_task_group() as tg:
            await self._settle(self._index_new_units())
            await self._adopt_first(tg)
            while True:
                self._start_ready(tg)
                if not self._running:
                    fresh = self._index_new_units()
                    if fresh:
                        await self._settle(fresh)
                        continue
                    stuck = [u for u in units.values() if not u.state.final]
                    if stuck:
                        raise RuntimeError(
                            f"scheduler stalled with {len(stuck)} unit(s) not final: "
                            + ", ".join(f"{u.id}={u.state}" for u in stuck[:5])
                        )
                    return
                await self._wake.wait()
                self._wake = anyio.Event()

    async def _settle(self, unit_ids: list[str]) -> None:
        """Promote or skip ``unit_ids`` and queue whatever can start."""
        units = self.ctx.model.units
        todo = list(unit_ids)
        while todo:
            uid = todo.pop()
            unit = units[uid]
            if unit.state is _U.PENDING:
                # Two units ending together both settle their common dependent; the
                # model changes only once the record is durable, so without this the
                # second would journal the same decision again while the first waits.
                if uid in self._deciding:
                    continue
                deps = [units[d] for d in unit.spec.depends_on if d in units]
                bad = next((d for d in deps if d.state.final and d.state is not _U.VERIFIED), None)
                if bad is None and not all(d.state is _U.VERIFIED for d in deps):
                    continue
                self._deciding.add(uid)
                try:
                    if bad is not None:
                        await self._write(uid, _U.SKIPPED, f"dependency {bad.id} {bad.state}")
                    else:
                        await self._write(uid, _U.READY, "dependencies verified")
                finally:
                    self._deciding.discard(uid)
                if bad is not None:
                    if uid in self._scopes:
                        self._scopes.remove(uid)
                    todo.extend(self._dependents.get(uid, ()))
                    continue
            if unit.state.final:
                todo.extend(self._dependents.get(uid, ()))
                continue
            if uid in self._running or (
                unit.state is _U.DELEGATED and not self.ctx.model.delegation_done(unit)
            ):
                continue
            self._queued.add(uid)

    async def _write(self, uid: str, state: UnitState, reason: str) -> None:
        await self.ctx.journal.write(
            RecordType.UNIT_STATE, {"unit": uid, "state": state.value, "reason": reason}
        )

    async def _adopt_first(self, tg: TaskGroup) -> None:
        """After a resume: let the turns in flight at the crash end before fresh work starts.

        Only the units with an open turn get runners, until those turns have ended
        or :data:`ADOPTION_HOLD` seconds passed (a real turn may run for minutes).
        """
        in_flight = set(self.ctx.model.turns)
        if not in_flight:
            return
        self._start_ready(tg, only={t.unit for t in self.ctx.model.turns.values()})
        with anyio.move_on_after(ADOPTION_HOLD):
            # Turns end in the journal, which has no hook to wait on: a bounded poll.
            while not in_flight.isdisjoint(self.ctx.model.turns):  # noqa: ASYNC110
                await anyio.sleep(_ADOPTION_POLL)

    def _start_ready(self, tg: TaskGroup, *, only: set[str | None] | None = None) -> None:
        if not self._queued:
            return
        units = self.ctx.model.units
        adopting = {t.unit for t in self.ctx.model.turns.values()}  # resumed, a turn in flight
        order = sorted(
            self._queued if only is None else self._queued & only,
            key=lambda u: (
                u not in adopting,
                units[u].state is _U.READY,
                -self._priority.get(u, 0),
            ),
        )
        for uid in order:
            if len(self._running) >= self._max_running:
                return
            conflicts = self._scopes.conflicts(uid) if uid in self._scopes else frozenset()
            if conflicts & (self._running | self._holding):
                continue
            self._queued.discard(uid)
            self._running.add(uid)
            tg.start_soon(self._run_unit, uid)

    async def _run_unit(self, uid: str) -> None:
        runner = UnitRunner(
            self.ctx, uid, priority=float(self._priority.get(uid, 0)), knowledge=self.knowledge
        )
        finished = anyio.Event()
        ended = False
        try:
            with anyio.CancelScope() as scope:
                self._tasks[uid] = (scope, finished)
                directory = self.ctx.model.units[uid].directory
                if directory is not None:
                    await self.ctx.attach_directory(directory)
                await runner.run()
            if scope.cancelled_caught:
                ended = True
                return  # a lost race: whoever cancelled it records its end
            unit = self.ctx.model.units[uid]
            affected = [uid]
            if unit.state is _U.DELEGATED and self.ctx.model.is_race(unit):
                self._holding.add(uid)
            else:
                self._holding.discard(uid)
            if unit.state.final:
                if uid in self._scopes:
                    self._scopes.remove(uid)
                affected.extend(self._dependents.get(uid, ()))
                if unit.parent is not None:
                    affected.append(unit.parent)
            affected.extend(self._index_new_units())
            # Settled while still counted as running, so the main loop never sees
            # a moment with nothing running and nothing queued.
            await self._settle(affected)
            ended = True
        finally:
            self._tasks.pop(uid, None)
            finished.set()
            # A runner that raised (a budget breach) takes the scheduler down with its
            # error; still counted as running, it can't look like a stall meanwhile.
            if ended:
                self._running.discard(uid)
                self._wake.set()  # also lets units its scope held back start
