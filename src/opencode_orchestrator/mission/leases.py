"""File scopes shared by the missions one process runs in the same project.

Within a mission the scheduler keeps units whose scopes overlap from running at
once. Two missions in one project (two ``/extreme-mission`` commands to the
same core, or a resumed mission beside a new one) know nothing of each other's
plans, yet their workers write the same tree: without a shared view, both
missions' ``u01`` could write ``src/u01/mod1.py`` at once, and both seal on
whichever content came last. So every unit that runs in the project *leases*
its scope here for as long as it runs, and a unit whose scope overlaps a lease
of another mission waits until that lease is returned::

    mission A scheduler ──lease(u03, src/api/**)──►  ProjectLeases(/repo)
    mission B scheduler ──lease(u01, src/**)─────►   refused: A's u03 overlaps
    mission A: u03 ends ──release──► wakes B ──► B leases u01

Leases are per process (the missions of one core); they cover the project
directory only (a racing strategy's worktree belongs to one mission). A
mission alone in its project pays one index update per unit start and end,
and no conflict test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from opencode_orchestrator.mission.scopes import ScopeIndex

__all__ = ["ProjectLeases", "leases_for"]

_SEP = "\x00"
"""Between a mission id and a unit id in a lease's key (neither can hold it)."""


class ProjectLeases:
    """The scopes of the units running in one project, across the missions of this process."""

    def __init__(self, project: Path) -> None:
        """Leases of ``project`` (an absolute, normalised path)."""
        self.project = project
        self._index = ScopeIndex()
        self._held: dict[str, set[str]] = {}
        """Per mission that joined: the units holding a lease."""
        self._wakers: dict[str, Callable[[], None]] = {}

    @property
    def missions(self) -> frozenset[str]:
        """The missions that joined and have not left."""
        return frozenset(self._wakers)

    def join(self, mission_id: str, wake: Callable[[], None]) -> None:
        """Take part; ``wake`` is called when another mission returns a lease."""
        if mission_id in self._wakers:
            raise ValueError(f"mission {mission_id} already takes part in {self.project}'s leases")
        self._wakers[mission_id] = wake
        self._held[mission_id] = set()

    def leave(self, mission_id: str) -> None:
        """Return every lease of ``mission_id`` and stop taking part (idempotent)."""
        for uid in list(self._held.get(mission_id, ())):
            self.release(mission_id, uid)
        self._wakers.pop(mission_id, None)
        self._held.pop(mission_id, None)
        if not self._wakers:
            _REGISTRY.pop(self.project, None)

    def lease(self, mission_id: str, unit_id: str, files: Sequence[str]) -> bool:
        """Lease ``files`` to the unit, unless another mission holds an overlapping lease.

        A unit that already holds its lease keeps it (``True``). Overlaps with
        the mission's own units are the mission's scheduler's to judge, not
        this: they are ignored here.
        """
        held = self._held[mission_id]
        if unit_id in held:
            return True
        key = mission_id + _SEP + unit_id
        self._index.add(key, files)
        if len(self._wakers) > 1:
            prefix = mission_id + _SEP
            if any(not other.startswith(prefix) for other in self._index.conflicts(key)):
                self._index.remove(key)
                return False
        held.add(unit_id)
        return True

    def release(self, mission_id: str, unit_id: str) -> None:
        """Return the unit's lease, if it holds one, and wake the other missions."""
        held = self._held.get(mission_id)
        if held is None or unit_id not in held:
            return
        held.discard(unit_id)
        self._index.remove(mission_id + _SEP + unit_id)
        for other, wake in list(self._wakers.items()):
            if other != mission_id:
                wake()

    def holds(self, mission_id: str, unit_id: str) -> bool:
        """Whether the unit holds a lease."""
        return unit_id in self._held.get(mission_id, ())


_REGISTRY: dict[Path, ProjectLeases] = {}


def leases_for(project: Path) -> ProjectLeases:
    """This process's leases of ``project`` (made on first use, dropped when all left).

    The path is made absolute and normalised, not resolved: no file system call
    here, as this runs on the event loop. Callers pass the real path (the
    scheduler resolves it in a worker thread), or missions that name one
    project through different symbolic links would not share leases.
    """
    key = Path(os.path.normpath(project.absolute()))
    leases = _REGISTRY.get(key)
    if leases is None:
        leases = _REGISTRY[key] = ProjectLeases(key)
    return leases
