"""Fractal delegation: a worker's sub-units become a sub-plan one level deeper.

A worker may answer ``outcome: split`` with sub-units. They are validated like
any plan (ids, dependencies, cycles, scopes, the mission's unit cap), must stay
inside the parent's file scope, and join the mission namespaced under the
parent (``parent.child``), in the parent's directory (a racing strategy's
worktree, else the project). The parent becomes DELEGATED; when every sub-unit
is verified its worker session is resumed with their results and reports as usual.
Anything wrong goes back to the worker as the reason it must do the work itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opencode_orchestrator.mission.contracts import PlanOutput, UnitSpec, WorkerReport
from opencode_orchestrator.mission.errors import PlanInvalidError
from opencode_orchestrator.mission.plan import validate_plan
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.scopes import scope_matches, scopes_overlap
from opencode_orchestrator.mission.states import UnitState

if TYPE_CHECKING:
    from opencode_orchestrator.mission.units import UnitRunner

__all__ = ["delegate", "namespaced"]


def namespaced(prefix: str, units: list[UnitSpec], known: set[str]) -> list[UnitSpec]:
    """``units`` with ids as ``prefix.id``; dependencies between them follow, others drop."""
    own = {u.id for u in units}
    result = []
    for unit in units:
        deps = [f"{prefix}.{d}" if d in own else d for d in unit.depends_on]
        deps = [d for d in deps if d.startswith(f"{prefix}.") or d in known]
        result.append(unit.model_copy(update={"id": f"{prefix}.{unit.id}", "depends_on": deps}))
    return result


def _outside_scope(parent: UnitSpec, sub: UnitSpec) -> list[str]:
    bad = []
    for pattern in sub.files:
        inside = (
            scope_matches(parent.files, pattern)
            if not any(c in pattern for c in "*?[")
            else scopes_overlap(parent.files, [pattern])
        )
        if not inside:
            bad.append(f"sub-unit {sub.id}: {pattern!r} is outside the parent's scope")
    return bad


async def delegate(runner: UnitRunner, report: WorkerReport) -> str | None:
    """Journal the sub-plan and move the unit to DELEGATED; or say why not (``str``)."""
    ctx = runner.ctx
    unit = runner.unit
    limits = ctx.config.limits
    if unit.depth >= limits.max_depth:
        return (
            f"splitting is not allowed at depth {unit.depth} (max {limits.max_depth}): "
            "do the unit yourself and report outcome done"
        )
    if not report.subunits:
        return "outcome split needs at least one sub-unit: do the unit yourself or list them"
    model = ctx.model
    room = limits.max_units - len(model.units)
    if len(report.subunits) > room:
        # The cap counts every unit of the mission, sub-units too: at the cap a
        # split of one sub-unit each time would still add a unit per turn.
        return (
            f"splitting into {len(report.subunits)} sub-unit(s) would pass the mission's cap "
            f"of {limits.max_units} units ({max(0, room)} left): do the unit yourself and "
            "report outcome done"
        )
    subs = namespaced(unit.id, list(report.subunits), set(model.units))
    problems = [p for sub in subs for p in _outside_scope(unit.spec, sub)]
    try:
        validate_plan(
            PlanOutput(summary=report.summary, units=subs),
            max_units=room,
            existing_ids=set(model.units),
        )
    except PlanInvalidError as exc:
        problems.extend(exc.problems)
    if problems:
        return "the sub-plan was refused: " + "; ".join(problems[:10])
    record: dict[str, object] = {
        "iteration": unit.iteration,
        "parent_unit": unit.id,
        "summary": report.summary,
        "units": [s.model_dump(mode="json") for s in subs],
    }
    if unit.directory is not None:
        # A racing strategy's sub-units work in its worktree: in the project they
        # would write a change the race has not chosen (and the winner's patch
        # would then not apply).
        record["directories"] = {s.id: unit.directory for s in subs}
    await ctx.journal.write(RecordType.PLAN_ACCEPTED, record)
    await runner.transition(UnitState.DELEGATED, f"split into {len(subs)} sub-unit(s)")
    return None
