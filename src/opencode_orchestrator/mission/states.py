"""The two state machines: the mission's and each unit's.

Mission::

    PLANNING ──► RUNNING ──► BARRIER ──► INTEGRATION_REVIEW ──► SEALED
       ▲                                          │
       └──── findings planned as new units ◄──────┘        (loop, bounded)

    any non-final state ──► FAILED | BLOCKED | BUDGET_EXCEEDED | CANCELLED

Unit (one attempt is one worker session; a failed attempt goes back to READY)::

    PENDING ─► READY ─► DISPATCHED ─► ACCEPTED ─► REPORTED ─► REVIEWING ─► VERIFIED
                 ▲           │            │          │  ▲         │
                 │           │            │          │  └ RUNNING ◄┘ (fix request,
                 └───────────┴────────────┴──────────┘     same session)
                       attempt failed, retry          └─► DELEGATED ─► RUNNING
                                                           (sub-plan)   (parent resumed)
    READY ─► DELEGATED ─► VERIFIED (a race: the first verified strategy wins)
    PENDING ─► SKIPPED (a dependency failed);  any non-final ─► FAILED | CANCELLED

Both enums refuse a transition the table does not list
(:class:`~opencode_orchestrator.mission.errors.TransitionError`), so a bug
that would corrupt a mission stops it instead.
"""

from __future__ import annotations

import enum
from typing import Final

from opencode_orchestrator.mission.errors import TransitionError

__all__ = ["MissionState", "UnitState"]


class MissionState(enum.StrEnum):
    """Where a mission is."""

    PLANNING = "planning"
    RUNNING = "running"
    BARRIER = "barrier"
    INTEGRATION_REVIEW = "integration_review"
    SEALED = "sealed"
    FAILED = "failed"
    BLOCKED = "blocked"
    BUDGET_EXCEEDED = "budget_exceeded"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether nothing more happens to the mission."""
        return self in _MISSION_FINAL

    def check(self, target: MissionState) -> None:
        """Raise :class:`TransitionError` unless ``self -> target`` is allowed."""
        if target not in _MISSION_NEXT[self]:
            raise TransitionError("mission", self.value, target.value)


class UnitState(enum.StrEnum):
    """Where a unit is."""

    PENDING = "pending"
    READY = "ready"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RUNNING = "running"
    REPORTED = "reported"
    REVIEWING = "reviewing"
    DELEGATED = "delegated"
    VERIFIED = "verified"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether the unit is done with, one way or the other."""
        return self in _UNIT_FINAL

    @property
    def active(self) -> bool:
        """Whether an attempt of the unit is under way (it holds a slot)."""
        return self in _UNIT_ACTIVE

    def check(self, target: UnitState) -> None:
        """Raise :class:`TransitionError` unless ``self -> target`` is allowed."""
        if target not in _UNIT_NEXT[self]:
            raise TransitionError("unit", self.value, target.value)


_M = MissionState
_MISSION_FINAL: Final = frozenset(
    {_M.SEALED, _M.FAILED, _M.BLOCKED, _M.BUDGET_EXCEEDED, _M.CANCELLED}
)
_ABORTS: Final = frozenset({_M.FAILED, _M.BLOCKED, _M.BUDGET_EXCEEDED, _M.CANCELLED})
_MISSION_NEXT: Final[dict[MissionState, frozenset[MissionState]]] = {
    _M.PLANNING: _ABORTS | {_M.RUNNING},
    _M.RUNNING: _ABORTS | {_M.BARRIER},
    _M.BARRIER: _ABORTS | {_M.INTEGRATION_REVIEW},
    _M.INTEGRATION_REVIEW: _ABORTS | {_M.SEALED, _M.PLANNING},
    **{state: frozenset() for state in _MISSION_FINAL},
}

_U = UnitState
_UNIT_FINAL: Final = frozenset({_U.VERIFIED, _U.FAILED, _U.SKIPPED, _U.CANCELLED})
_UNIT_ACTIVE: Final = frozenset({_U.DISPATCHED, _U.ACCEPTED, _U.RUNNING, _U.REPORTED, _U.REVIEWING})
_ENDS: Final = frozenset({_U.FAILED, _U.CANCELLED})
_RETRY: Final = _ENDS | {_U.READY}
_UNIT_NEXT: Final[dict[UnitState, frozenset[UnitState]]] = {
    _U.PENDING: _ENDS | {_U.READY, _U.SKIPPED},
    _U.READY: _ENDS | {_U.DISPATCHED, _U.DELEGATED},
    _U.DISPATCHED: _RETRY | {_U.ACCEPTED},
    _U.ACCEPTED: _RETRY | {_U.RUNNING, _U.REPORTED},
    _U.RUNNING: _RETRY | {_U.REPORTED, _U.RUNNING},  # a further prompt, same session
    _U.REPORTED: _RETRY | {_U.REVIEWING, _U.DELEGATED, _U.RUNNING},
    _U.REVIEWING: _RETRY | {_U.VERIFIED, _U.RUNNING},
    _U.DELEGATED: _RETRY | {_U.RUNNING, _U.VERIFIED},
    **{state: frozenset() for state in _UNIT_FINAL},
}
