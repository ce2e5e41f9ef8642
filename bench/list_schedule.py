"""The makespan a scheduler with no overhead at all would reach on a mission's turns.

``bench_mission.py`` compares the engine's makespan with the issue's ideal,
``max(critical path, total work / concurrency)``. That bound is not reachable
by any scheduler that runs whole turns on a fixed number of slots: near the end
of the DAG fewer turns are ready than there are slots, and a slot cannot be
split. This module replays the same turns, with their realised latencies, under
the engine's own policy and zero overhead, so the benchmark can say how much
of the gap is the engine's and how much the DAG's:

* a unit's worker turn is ready once every dependency is verified;
* with shadow review, the shadow turn is ready when the worker's first file is
  written, and the final review once the worker *and* the shadow review ended;
  without, the final review is ready when the worker ended;
* the unit is verified when its final review ends;
* ``concurrency`` slots; a free slot takes the ready turn of the unit with the
  longest chain of units still to come (``plan.critical_path``, reviews half a
  step ahead of workers, as the engine ranks them), first come first served
  among equals; a turn holds its slot for exactly its latency.

Nothing here measures anything: it is arithmetic on what the run journaled.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["UnitTurns", "list_schedule"]


@dataclass(frozen=True, slots=True)
class UnitTurns:
    """One unit's turns, in seconds."""

    worker: float
    """All of the unit's turns other than reviews, end to end."""
    review: float
    """The final review (every round of it)."""
    shadow: float | None = None
    """The shadow review, if the unit had one."""
    first_file: float | None = None
    """When, into its worker turn, the worker wrote its first file (default: at its end)."""


def list_schedule(
    units: Mapping[str, UnitTurns],
    depends_on: Mapping[str, Sequence[str]],
    priority: Mapping[str, float],
    concurrency: int,
) -> float:
    """Seconds from the first dispatch until the last unit is verified, with no overhead.

    Args:
        units: every unit's turns (a unit missing here is verified at no cost).
        depends_on: each unit's dependencies (every unit of ``units`` appears).
        priority: a unit's rank in the pool (higher first), e.g. its critical path.
        concurrency: slots.
    """
    waiting = {uid: len(before) for uid, before in depends_on.items()}
    dependents: dict[str, list[str]] = {uid: [] for uid in depends_on}
    for uid, before in depends_on.items():
        for dep in before:
            dependents[dep].append(uid)
    order = itertools.count()
    ready: list[tuple[float, int, str, str]] = []  # (-rank, fifo, kind, unit)
    events: list[tuple[float, int, str, str]] = []  # (time, fifo, what, unit)
    ended: dict[str, set[str]] = {uid: set() for uid in depends_on}
    now = finish = 0.0
    free = concurrency

    def make_ready(uid: str) -> None:
        turns = units.get(uid)
        if turns is None:  # nothing to run: verified at once
            heapq.heappush(events, (now, next(order), "verified", uid))
        else:
            heapq.heappush(ready, (-priority.get(uid, 0.0), next(order), "worker", uid))

    def review_if_due(uid: str) -> None:
        turns = units[uid]
        done = ended[uid]
        if "worker" in done and (turns.shadow is None or "shadow" in done):
            heapq.heappush(ready, (-priority.get(uid, 0.0) - 0.5, next(order), "review", uid))

    for uid, count in waiting.items():
        if count == 0:
            make_ready(uid)
    while True:
        while free and ready:
            _, _, kind, uid = heapq.heappop(ready)
            free -= 1
            turns = units[uid]
            heapq.heappush(events, (now + _length(turns, kind), next(order), kind, uid))
            if kind == "worker" and turns.shadow is not None:
                file_at = turns.worker if turns.first_file is None else turns.first_file
                heapq.heappush(events, (now + min(file_at, turns.worker), next(order), "file", uid))
        if not events:
            break
        now, _, what, uid = heapq.heappop(events)
        if what == "file":
            heapq.heappush(ready, (-priority.get(uid, 0.0) - 0.5, next(order), "shadow", uid))
            continue
        if what != "verified":
            free += 1
            ended[uid].add(what)
            if what != "review":
                review_if_due(uid)
                continue
        finish = max(finish, now)
        for after in dependents[uid]:
            waiting[after] -= 1
            if waiting[after] == 0:
                make_ready(after)
    return finish


def _length(turns: UnitTurns, kind: str) -> float:
    if kind == "worker":
        return turns.worker
    if kind == "shadow":
        return turns.shadow or 0.0
    return turns.review
