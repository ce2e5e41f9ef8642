"""What a live view shows of a mission, taken from its :class:`MissionModel` at one instant.

Both renderings (the rich view on a terminal, the plain line elsewhere) read
a :class:`Snapshot`, never the model, so what they say is computed once and
tested once. Taking one costs a pass over the units and the open turns: a few
hundred microseconds for a 1,000-unit mission, cheap enough at 4 Hz. Only the
``limit`` longest-running units are listed; ``running`` counts them all.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

from opencode_orchestrator.mission.figures import Caps, caps_of
from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.records import TurnKind
from opencode_orchestrator.mission.states import MissionState, UnitState

__all__ = [
    "PHASES",
    "Phase",
    "PhaseStatus",
    "RunningUnit",
    "Snapshot",
    "Spend",
    "Tally",
    "take_snapshot",
]

PHASES: tuple[MissionState, ...] = (
    MissionState.PLANNING,
    MissionState.RUNNING,
    MissionState.BARRIER,
    MissionState.INTEGRATION_REVIEW,
    MissionState.SEALED,
)
"""The phases of one iteration, in order; a mission that seals went through them all."""

_FAILED = frozenset({UnitState.FAILED, UnitState.SKIPPED})

_ROLE_OF_KIND: Mapping[TurnKind, str] = {
    TurnKind.SHADOW_REVIEW: "shadow reviewer",
    TurnKind.REVIEW: "reviewer",
    TurnKind.MASTER_REVIEW: "master reviewer",
    TurnKind.PLAN: "planner",
}
"""Every other kind of turn a unit sends is its worker's (work, fix, nudge, ...)."""

_ROLE_OF_STATE: Mapping[UnitState, str] = {
    UnitState.DISPATCHED: "worker",
    UnitState.ACCEPTED: "worker",
    UnitState.RUNNING: "worker",
    UnitState.REPORTED: "checks",
    UnitState.REVIEWING: "reviewer",
}
"""What a unit without an open turn is doing (between two turns: starting, checking)."""


class PhaseStatus(enum.StrEnum):
    """Where a phase is in the current iteration."""

    WAITING = "waiting"
    ACTIVE = "active"
    DONE = "done"
    STOPPED = "stopped"
    """The mission ended (not sealed) while in this phase."""


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase's bar: ``completed`` of ``total`` (``total`` None: no count, only a status)."""

    state: MissionState
    status: PhaseStatus
    completed: int = 0
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Tally:
    """The units of the current iteration, by outcome."""

    total: int = 0
    verified: int = 0
    failed: int = 0
    """Failed, or skipped (a dependency failed)."""
    running: int = 0
    cancelled: int = 0
    """Cancelled: the mission was cancelled or ran out of budget, not the unit's doing."""

    @property
    def finished(self) -> int:
        """Units that are final, either way."""
        return self.verified + self.failed + self.cancelled


@dataclass(frozen=True, slots=True)
class RunningUnit:
    """A unit with an attempt under way."""

    id: str
    title: str
    role: str
    attempt: int
    elapsed: float
    """Seconds since the unit was first dispatched."""


@dataclass(frozen=True, slots=True)
class Spend:
    """Tokens, cost and wall time spent, and the mission's caps on them."""

    tokens: int
    cost: float
    wall: float
    caps: Caps = field(default_factory=Caps)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a live view shows, at one instant."""

    mission_id: str
    goal: str
    state: MissionState
    reason: str
    iteration: int
    phases: tuple[Phase, ...]
    units: Tally
    running: tuple[RunningUnit, ...]
    """The longest-running units, longest first (at most the ``limit`` asked for)."""
    spend: Spend


def take_snapshot(
    model: MissionModel,
    *,
    now: float,
    wall: float | None = None,
    limit: int = 8,
    stopped_in: MissionState | None = None,
) -> Snapshot:
    """Read ``model`` into a :class:`Snapshot`.

    Args:
        model: the mission.
        now: the wall clock (seconds since the epoch), for the units' elapsed times.
        wall: the mission's wall time so far; by default from its creation to
            ``now`` (to its last record once it has ended).
        limit: how many running units to list.
        stopped_in: for a mission that ended unsealed, the phase it was in
            (the model keeps only its final state); guessed when not given.
    """
    tally, active = _tally(model)
    if wall is None:
        end = model.last_ts if model.state.final else now
        wall = max(0.0, end - model.created_at) if model.created else 0.0
    return Snapshot(
        mission_id=model.mission_id,
        goal=model.goal,
        state=model.state,
        reason=model.reason,
        iteration=model.iteration,
        phases=_phases(model.state, tally, stopped_in or _guess_stop(model.state, tally)),
        units=tally,
        running=_running(model, active, now, limit),
        spend=_spend(model, wall),
    )


def _tally(model: MissionModel) -> tuple[Tally, list[UnitModel]]:
    total = verified = failed = cancelled = 0
    active: list[UnitModel] = []
    iteration = model.iteration
    for unit in model.units.values():
        if unit.iteration != iteration:
            continue
        state = unit.state
        if unit.strategy is not None:
            # Counted as the report and the seal count: racing strategies (and what
            # they split into) are not units of the plan, and a loser ends
            # cancelled by design, not as a failure. Their work still shows.
            if state.active:
                active.append(unit)
            continue
        total += 1
        if state is UnitState.VERIFIED:
            verified += 1
        elif state in _FAILED:
            failed += 1
        elif state is UnitState.CANCELLED:
            cancelled += 1
        elif state.active:
            active.append(unit)
    return Tally(total, verified, failed, len(active), cancelled), active


def _guess_stop(state: MissionState, tally: Tally) -> MissionState:
    if not state.final or state is MissionState.SEALED:
        return state
    if tally.total == 0:
        return MissionState.PLANNING
    if tally.finished < tally.total:
        return MissionState.RUNNING
    return MissionState.BARRIER


def _phases(state: MissionState, tally: Tally, stopped_in: MissionState) -> tuple[Phase, ...]:
    sealed = state is MissionState.SEALED
    here = PHASES.index(stopped_in) if stopped_in in PHASES else 0
    phases: list[Phase] = []
    for index, phase in enumerate(PHASES):
        if sealed or index < here:
            status = PhaseStatus.DONE
        elif index > here:
            status = PhaseStatus.WAITING
        else:
            status = PhaseStatus.STOPPED if state.final else PhaseStatus.ACTIVE
        if phase is MissionState.RUNNING:
            phases.append(Phase(phase, status, tally.finished, tally.total))
        else:
            done = status is PhaseStatus.DONE
            phases.append(Phase(phase, status, int(done), None))
    return tuple(phases)


def _running(
    model: MissionModel, active: list[UnitModel], now: float, limit: int
) -> tuple[RunningUnit, ...]:
    if not active or limit <= 0:
        return ()
    roles: dict[str, set[str]] = {}
    for turn in model.turns.values():
        if turn.unit is not None:
            role = _ROLE_OF_KIND.get(turn.effective_kind, "worker")
            roles.setdefault(turn.unit, set()).add(role)
    longest = heapq.nsmallest(
        limit, active, key=lambda u: (u.started_at if u.started_at is not None else now, u.id)
    )
    return tuple(
        RunningUnit(
            id=unit.id,
            title=unit.spec.title,
            role=" + ".join(sorted(roles[unit.id]))
            if unit.id in roles
            else _ROLE_OF_STATE.get(unit.state, unit.state.value),
            attempt=unit.attempt,
            elapsed=max(0.0, now - unit.started_at) if unit.started_at is not None else 0.0,
        )
        for unit in longest
    )


def _spend(model: MissionModel, wall: float) -> Spend:
    return Spend(tokens=model.tokens, cost=model.cost, wall=wall, caps=caps_of(model))
