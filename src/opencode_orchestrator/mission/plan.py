"""The plan layer: the rules a planner's DAG of units must keep, and its orderings.

:func:`validate_plan` checks a :class:`~opencode_orchestrator.mission.contracts.PlanOutput`
and reports *every* problem at once, one line each, because the lines go back
to the planner verbatim for it to fix its plan in a single round.
:func:`topological_order` and :func:`critical_path` order a validated plan for
the scheduler. Every graph walk here is iterative, so a plan of tens of
thousands of units cannot exhaust Python's recursion limit.

An edge ``a -> b`` below means "unit ``a`` depends on unit ``b``" (``b`` runs first).
"""

from __future__ import annotations

import heapq
import re
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Final

from opencode_orchestrator.mission.contracts import PlanOutput, UnitSpec
from opencode_orchestrator.mission.errors import PlanInvalidError
from opencode_orchestrator.mission.scopes import normalize_scope

__all__ = [
    "critical_path",
    "normalize_scope",
    "scope_faults",
    "topological_order",
    "validate_plan",
]

_DRIVE_RE: Final = re.compile(r"^[A-Za-z]:")


def validate_plan(plan: PlanOutput, *, max_units: int, existing_ids: Collection[str] = ()) -> None:
    """Raise :class:`PlanInvalidError` listing all the rules ``plan`` breaks, if any.

    Args:
        plan: The planner's answer.
        max_units: The most units the plan may have.
        existing_ids: Ids of units already in the mission (earlier iterations,
            the unit being split): the plan may depend on them but not reuse them.
    """
    existing = frozenset(existing_ids)
    problems: list[str] = []
    if len(plan.units) > max_units:
        problems.append(f"the plan has {len(plan.units)} units; at most {max_units} are allowed")
    problems.extend(_id_problems(plan.units, existing))
    known = {unit.id for unit in plan.units}
    for unit in plan.units:
        problems.extend(_unit_problems(unit, known, existing))
    problems.extend(
        f"plan check #{n} is empty" for n, check in enumerate(plan.checks, 1) if not check.strip()
    )
    problems.extend(f"cycle: {' -> '.join(cycle)}" for cycle in _cycles(plan.units))
    if problems:
        raise PlanInvalidError(problems)


def _id_problems(units: Sequence[UnitSpec], existing: frozenset[str]) -> Iterator[str]:
    counts: dict[str, int] = {}
    for unit in units:
        counts[unit.id] = counts.get(unit.id, 0) + 1
    for unit_id, count in counts.items():  # in order of first appearance
        if count > 1:
            yield f"unit id {unit_id!r} is used by {count} units"
        if unit_id in existing:
            yield f"unit id {unit_id!r} is already used by a unit of the mission"


def _unit_problems(unit: UnitSpec, known: set[str], existing: frozenset[str]) -> Iterator[str]:
    name = f"unit {unit.id!r}"
    for dep in dict.fromkeys(unit.depends_on):  # a repeated dependency is reported once
        if dep == unit.id:
            yield f"{name} depends on itself"
        elif dep not in known and dep not in existing:
            yield f"{name} depends on unknown unit {dep!r}"
    for pattern in unit.files:
        faults = scope_faults(pattern)
        if faults:
            yield f"{name}: file scope {pattern!r} {', '.join(faults)}"
    for n, check in enumerate(unit.checks, 1):
        if not check.strip():
            yield f"{name}: check #{n} is empty"


def scope_faults(pattern: str) -> list[str]:
    """What is wrong with one file scope entry, as phrases (empty if nothing)."""
    if not pattern.strip():
        return ["is empty"]
    faults: list[str] = []
    if "\0" in pattern:
        faults.append("contains a NUL character")
    if "\\" in pattern:
        faults.append("contains a backslash (use '/')")
    if pattern.startswith("/"):
        faults.append("is absolute (make it relative to the project)")
    elif pattern.startswith("~"):
        faults.append("starts with '~' (make it relative to the project)")
    elif _DRIVE_RE.match(pattern):
        faults.append("is a Windows drive path (make it relative to the project)")
    normal = normalize_scope(pattern)
    if ".." in normal.split("/"):
        faults.append("has a '..' component")
    elif not normal:
        faults.append("names no path (use '**' for the whole project)")
    return faults


def _graph(units: Sequence[UnitSpec]) -> dict[str, list[str]]:
    """Each unit's dependencies among ``units``: no self edges, no repeats, in input order.

    A unit listed twice gets the union of its entries' dependencies, so that a
    plan with a duplicate id still has its cycles found.
    """
    edges: dict[str, dict[str, None]] = {unit.id: {} for unit in units}
    for unit in units:
        for dep in unit.depends_on:
            if dep in edges and dep != unit.id:
                edges[unit.id][dep] = None
    return {unit_id: list(deps) for unit_id, deps in edges.items()}


def _cycles(units: Sequence[UnitSpec]) -> list[list[str]]:
    """One cycle per strongly connected component of two or more units, first unit first."""
    edges = _graph(units)
    position = {unit_id: i for i, unit_id in enumerate(edges)}
    cycles: list[list[str]] = []
    for component in _strongly_connected(edges):
        if len(component) > 1:
            start = min(component, key=position.__getitem__)
            cycles.append(_cycle_through(start, set(component), edges))
    cycles.sort(key=lambda cycle: position[cycle[0]])
    return cycles


def _strongly_connected(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's algorithm with an explicit stack in place of recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(edges[root]))]
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:  # every successor seen: node is finished
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _cycle_through(
    start: str, members: Collection[str], edges: Mapping[str, Sequence[str]]
) -> list[str]:
    """A shortest cycle from ``start`` within ``members``, closed (``[a, b, a]``)."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in edges[node]:
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if nxt in members and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    raise AssertionError("a strongly connected component without a cycle")  # pragma: no cover


def topological_order(units: Sequence[UnitSpec]) -> list[str]:
    """The unit ids, each after its dependencies; among ready units, input order first.

    So a plan already listed in a valid order comes back unchanged.
    Dependencies on ids not in ``units`` (finished units) are ignored.

    Raises:
        ValueError: ``units`` has a cycle (it was not validated).
    """
    edges = _graph(units)
    position = {unit_id: i for i, unit_id in enumerate(edges)}
    waiting = {unit_id: len(deps) for unit_id, deps in edges.items()}
    dependents = _dependents(edges)
    ready = [position[unit_id] for unit_id, count in waiting.items() if count == 0]
    ids = list(edges)
    order: list[str] = []
    while ready:
        unit_id = ids[heapq.heappop(ready)]
        order.append(unit_id)
        for dependent in dependents[unit_id]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, position[dependent])
    if len(order) != len(edges):
        raise ValueError("the units' dependencies have a cycle")
    return order


def critical_path(units: Sequence[UnitSpec]) -> dict[str, int]:
    """For each unit, how many units the longest dependency chain from it to the end has.

    The chain starts at the unit itself and follows the units that wait for it,
    so a unit nothing depends on has 1 and the scheduler can start the units
    with the highest numbers first. Dependencies on ids not in ``units`` are
    ignored. ``units`` must be acyclic (:class:`ValueError` otherwise).
    """
    edges = _graph(units)
    dependents = _dependents(edges)
    # Kahn's algorithm from the sinks backwards: a unit's length is known once
    # all its dependents' are, and a FIFO keeps it O(V+E).
    remaining = {unit_id: len(after) for unit_id, after in dependents.items()}
    queue = deque(unit_id for unit_id, count in remaining.items() if count == 0)
    length: dict[str, int] = {}
    while queue:
        unit_id = queue.popleft()
        length[unit_id] = 1 + max((length[d] for d in dependents[unit_id]), default=0)
        for dep in edges[unit_id]:
            remaining[dep] -= 1
            if remaining[dep] == 0:
                queue.append(dep)
    if len(length) != len(edges):
        raise ValueError("the units' dependencies have a cycle")
    return {unit_id: length[unit_id] for unit_id in edges}


def _dependents(edges: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The reverse of ``edges``: for each unit, the units that depend on it."""
    dependents: dict[str, list[str]] = {unit_id: [] for unit_id in edges}
    for unit_id, deps in edges.items():
        for dep in deps:
            dependents[dep].append(unit_id)
    return dependents
