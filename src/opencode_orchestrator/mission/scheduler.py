"""The RUNNING phase: promote units along the DAG, run them, hold the barrier.

* A PENDING unit becomes READY when all its dependencies are VERIFIED, and
  SKIPPED when one of them ended any other way (transitively).
* Startable units (READY, or mid-attempt after a resume, or DELEGATED with all
  sub-units final) get a :class:`~opencode_orchestrator.mission.units.UnitRunner`,
  critical path first, unless their file scope overlaps a unit already
  running in the same directory (the project, or a racing strategy's worktree:
  one :class:`~opencode_orchestrator.mission.scopes.ScopeIndex` each), or in
  the project a unit of another mission this process runs there
  (:mod:`~opencode_orchestrator.mission.leases`). A runner task that is done
  with its unit goes on with the next startable one.
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

import heapq
import os
from collections import defaultdict
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.context import MissionContext
from opencode_orchestrator.mission.leases import ProjectLeases, leases_for
from opencode_orchestrator.mission.model import UnitModel
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
        self._order: list[tuple[tuple[bool, bool, int], str]] = []
        """The queued units as a heap, best first (:meth:`_rank`), one entry each."""
        self._dependents: dict[str, list[str]] = defaultdict(list)
        self._known: set[str] = set()
        self._priority: dict[str, int] = {}
        self._scopes: defaultdict[str | None, ScopeIndex] = defaultdict(ScopeIndex)
        """Scopes of units not final, by the directory they work in (``None``: the project)."""
        self._wake = anyio.Event()
        self._holding: set[str] = set()
        self._deciding: set[str] = set()
        """Pending units whose READY or SKIPPED is being journaled by some task."""
        """Race parents: their scope stays held in the project while strategies run."""
        self._tasks: dict[str, anyio.CancelScope] = {}
        self._stopped: dict[str, anyio.Event] = {}
        """Set when the runner of a unit being cancelled has stopped (made on demand)."""
        self._withdrawn: set[str] = set()
        """Units whose runner was cancelled: whoever cancelled them records their end."""
        self._max_running = RUNNERS_PER_SLOT * ctx.config.limits.concurrency
        self._leases: ProjectLeases | None = None
        """This process's scopes in the project, shared with its other missions (while running)."""
        self._waiting_on_others = False
        """The last :meth:`_take` passed over a unit whose scope another mission holds."""
        self._only: set[str | None] | None = None
        """While adopting after a resume: the only units that may start."""
        ctx.unit_canceller = self._cancel_unit

    async def _cancel_unit(self, uid: str) -> None:
        # Never started again, even while its canceller still awaits (aborting its
        # sessions): a runner started meanwhile would adopt its turn and record
        # a step after the canceller's CANCELLED (cancelled -> reported).
        self._withdrawn.add(uid)
        scope = self._tasks.get(uid)
        if scope is None:
            return
        scope.cancel()
        stopped = self._stopped.get(uid)
        if stopped is None:
            stopped = self._stopped[uid] = anyio.Event()
        await stopped.wait()

    def _wake_up(self) -> None:
        self._wake.set()

    def _stopped_running(self, uid: str) -> None:
        self._running.discard(uid)
        # A race parent keeps its project scope while its strategies run.
        if self._leases is not None and uid not in self._holding:
            self._leases.release(self.ctx.mission_id, uid)

    def _release_scope(self, unit: UnitModel) -> None:
        scopes = self._scopes[unit.directory]
        if unit.id in scopes:
            scopes.remove(unit.id)

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
            if not unit.state.final:
                self._scopes[unit.directory].add(uid, unit.spec.files)
        self._priority = critical_path([u.spec for u in units.values()])
        # Priorities changed: rank the queue afresh.
        self._order = [(self._rank(uid), uid) for uid in self._queued]
        heapq.heapify(self._order)
        return new

    def _rank(self, uid: str) -> tuple[bool, bool, int]:
        """Where ``uid`` starts, lowest first (ranked when it is queued).

        Units with a turn in flight (after a resume), then units under way, then
        fresh READY ones; among those, the longest critical path first.
        """
        return (
            uid not in self.ctx.model.turns.units(),
            self.ctx.model.units[uid].state is _U.READY,
            -self._priority.get(uid, 0),
        )

    async def run(self) -> None:
        """Until every unit is final (the barrier)."""
        units = self.ctx.model.units
        mission_id = self.ctx.mission_id
        # Resolved (off the loop: it reads symbolic links), so a mission that names the
        # project through a link shares leases with one that names it directly.
        project = await anyio.to_thread.run_sync(os.path.realpath, self.ctx.project)
        self._leases = leases = leases_for(Path(project))
        leases.join(mission_id, self._wake_up)
        try:
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
                        if stuck and not self._waiting_on_others:
                            raise RuntimeError(
                                f"scheduler stalled with {len(stuck)} unit(s) not final: "
                                + ", ".join(f"{u.id}={u.state}" for u in stuck[:5])
                            )
                        if not stuck:
                            return
                        # Else another mission's unit holds a scope ours needs: its
                        # release wakes us.
                    await self._wake.wait()
                    self._wake = anyio.Event()
        finally:
            self._leases = None
            leases.leave(mission_id)

    async def _settle(self, unit_ids: list[str]) -> None:
        """Promote or skip ``unit_ids`` and queue whatever can start."""
        units = self.ctx.model.units
        todo = list(unit_ids)
        # A final unit hands its dependents on once: walking on from every final
        # unit each time it is reached follows every path of the DAG, and a resumed
        # mission with a long verified prefix has exponentially many.
        handed_on: set[str] = set()
        while todo:
            uid = todo.pop()
            unit = units[uid]
            if unit.state is _U.PENDING:
                # Two units ending together both settle their common dependent; the
                # model changes only once the record is durable, so without this the
                # second would journal the same decision again while the first waits.
                if uid in self._deciding:
                    continue
                bad, verified = _dependencies(unit, units)
                if bad is None and not verified:
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
                    self._release_scope(unit)
                    handed_on.add(uid)
                    todo.extend(self._dependents.get(uid, ()))
                    continue
            if unit.state.final:
                if uid not in handed_on:
                    handed_on.add(uid)
                    todo.extend(self._dependents.get(uid, ()))
                continue
            if uid in self._running or (
                unit.state is _U.DELEGATED and not self.ctx.model.delegation_done(unit)
            ):
                continue
            if uid not in self._queued:
                self._queued.add(uid)
                heapq.heappush(self._order, (self._rank(uid), uid))

    async def _write(self, uid: str, state: UnitState, reason: str) -> None:
        # Not waited on: READY and SKIPPED follow from the dependencies' durable
        # states, and a resumed scheduler settles every pending unit again, so a
        # crash that loses one only has it decided anew. Waiting for the disk here
        # put a sync between a unit's verdict and its dependents' first prompt.
        await self.ctx.journal.write(
            RecordType.UNIT_STATE,
            {"unit": uid, "state": state.value, "reason": reason},
            durable=False,
        )

    async def _adopt_first(self, tg: TaskGroup) -> None:
        """After a resume: let the turns in flight at the crash end before fresh work starts.

        Only the units with an open turn get runners, until those turns have ended
        or :data:`ADOPTION_HOLD` seconds passed (a real turn may run for minutes).
        """
        in_flight = set(self.ctx.model.turns)
        if not in_flight:
            return
        self._only = set(self.ctx.model.turns.units())
        try:
            self._start_ready(tg)
            with anyio.move_on_after(ADOPTION_HOLD):
                # Turns end in the journal, which has no hook to wait on: a bounded poll.
                while not in_flight.isdisjoint(self.ctx.model.turns):  # noqa: ASYNC110
                    await anyio.sleep(_ADOPTION_POLL)
        finally:
            self._only = None

    def _start_ready(self, tg: TaskGroup) -> None:
        for uid in self._take(self._max_running - len(self._running)):
            tg.start_soon(self._run_units, uid)

    def _take(self, wanted: int) -> list[str]:
        """Up to ``wanted`` of the queued units that may start now, best first.

        They are counted as running from here on: the caller runs them.
        """
        # Called on every wake: with a hundred units queued, sorting them all to start
        # the one or two whose runners just ended was most of the scheduler's time.
        order = self._order
        leases = self._leases
        self._waiting_on_others = False
        taken: list[str] = []
        passed: list[tuple[tuple[bool, bool, int], str]] = []  # back in the heap after
        while order and len(taken) < wanted:
            entry = heapq.heappop(order)
            uid = entry[1]
            if uid in self._withdrawn:
                self._queued.discard(uid)
                continue
            if self._only is not None and uid not in self._only:
                passed.append(entry)
                continue
            unit = self.ctx.model.units[uid]
            scopes = self._scopes[unit.directory]
            if uid in scopes:
                conflicts = scopes.conflicts(uid)
                if not (
                    conflicts.isdisjoint(self._running) and conflicts.isdisjoint(self._holding)
                ):
                    passed.append(entry)
                    continue
            if (
                unit.directory is None
                and leases is not None
                and not leases.lease(self.ctx.mission_id, uid, unit.spec.files)
            ):
                self._waiting_on_others = True
                passed.append(entry)
                continue
            self._queued.discard(uid)
            self._running.add(uid)
            taken.append(uid)
        for entry in passed:
            heapq.heappush(order, entry)
        return taken

    async def _run_units(self, uid: str) -> None:
        """A runner task: ``uid``, then whichever unit may start next, until none may.

        Its next unit is the one the main loop would have started for it, taken
        as soon as ``uid`` is done with; a task per unit cost an anyio spawn, a
        cancel scope and an event, 20-40 µs of the event loop's time. The runner
        is awaited here, not a level further down: every wake-up of a turn passes
        through each coroutine frame above it.
        """
        while True:
            if uid in self._withdrawn:
                # Cancelled after it was taken, before this task got to it (no cancel
                # scope to reach yet): it must not run; its canceller records its end.
                self._stopped_running(uid)
                self._wake.set()
            else:
                priority = float(self._priority.get(uid, 0))
                runner = UnitRunner(self.ctx, uid, priority=priority, knowledge=self.knowledge)
                ended = False
                try:
                    with anyio.CancelScope() as scope:
                        self._tasks[uid] = scope
                        directory = self.ctx.model.units[uid].directory
                        if directory is not None:
                            await self.ctx.attach_directory(directory)
                        await runner.run()
                    # Not after a lost race: whoever cancelled it records its end.
                    if not scope.cancelled_caught:
                        await self._unit_done(uid)
                    ended = True
                finally:
                    self._tasks.pop(uid, None)
                    stopped = self._stopped.pop(uid, None)
                    if stopped is not None:
                        stopped.set()
                    # A runner that raised (a budget breach) takes the scheduler down with
                    # its error; still counted as running, it can't look like a stall
                    # meanwhile.
                    if ended:
                        self._stopped_running(uid)
                        self._wake.set()  # also lets units its scope held back start
            taken = self._take(min(1, self._max_running - len(self._running)))
            if not taken:
                return
            uid = taken[0]

    async def _unit_done(self, uid: str) -> None:
        """Settle what ``uid``'s runner leaves behind: its dependents, its parent, new units."""
        unit = self.ctx.model.units[uid]
        affected = [uid]
        if unit.state is _U.DELEGATED and self.ctx.model.is_race(unit):
            self._holding.add(uid)
        else:
            self._holding.discard(uid)
        if unit.state.final:
            self._release_scope(unit)
            affected.extend(self._dependents.get(uid, ()))
            if unit.parent is not None:
                affected.append(unit.parent)
        affected.extend(self._index_new_units())
        # Settled while still counted as running, so the main loop never sees
        # a moment with nothing running and nothing queued.
        await self._settle(affected)


def _dependencies(unit: UnitModel, units: dict[str, UnitModel]) -> tuple[UnitModel | None, bool]:
    """A dependency of ``unit`` that ended other than VERIFIED, and whether all are VERIFIED.

    The dependency is the first such in ``depends_on`` (``None``: none). One pass
    over the dependencies: it runs for every dependent of every unit that ends.
    """
    verified = True
    for dep_id in unit.spec.depends_on:
        dep = units.get(dep_id)
        if dep is None or dep.state is _U.VERIFIED:
            continue
        if dep.state.final:
            return dep, False
        verified = False
    return None, verified
