"""The records of the mission's model: a unit and an open turn.

:class:`~opencode_orchestrator.mission.model.MissionModel` holds one
:class:`UnitModel` per unit and one :class:`TurnModel` per turn not ended yet,
and changes them only by folding WAL records in. Their containers are
immutable and shared when empty, so that a 10,000-unit mission's model stays
small (see the model's own docstring for what a final unit keeps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.records import TurnKind
from opencode_orchestrator.mission.states import UnitState

__all__ = ["WORKER_KINDS", "TurnModel", "UnitModel"]

WORKER_KINDS = frozenset(
    {
        TurnKind.WORK,
        TurnKind.FIX,
        TurnKind.RECOVER,
        TurnKind.NUDGE,
        TurnKind.CONTINUE,
        TurnKind.SUBUNITS_DONE,
    }
)
"""Turn kinds a unit's worker session answers (its reviewers' are the others)."""

EMPTY_KINDS: Final[frozenset[str]] = frozenset()
"""Shared: ``frozenset()`` makes a new object each time (no empty singleton since 3.10)."""

EMPTY_SESSIONS: Final[Mapping[str, str]] = MappingProxyType({})
"""Shared by every unit without sessions: read-only, so nobody can fill it for all of them."""


def _no_sessions() -> Mapping[str, str]:
    return EMPTY_SESSIONS  # a factory: dataclasses refuse an unhashable default


@dataclass(slots=True)
class UnitModel:
    """One unit: its spec, where it is, and what its attempts produced.

    Containers are immutable (tuples, frozensets, a read-only mapping) and
    replaced rather than changed, so units share the empty ones instead of
    each holding its own; only ``pending`` is changed in place.

    When the unit becomes final, its working state (``report``, ``kinds``,
    ``pending``, ``next_turn``, ``review_round``) is released, as is, unless
    the model keeps evidence, its evidence (``sessions``, ``verdict``,
    ``shadow_verdict``, ``checks``, ``tokens``, ``cost``, ``started_at``,
    ``ended_at``); a racing strategy keeps its sessions and ``ended_at`` (the
    race picks the first verified one, and deletes the losers' sessions after
    they are cancelled). What stays: the plan's fields, ``state``, ``reason``,
    the counts, ``failures``, ``summary`` and ``learnings``.
    """

    spec: UnitSpec
    iteration: int = 1
    depth: int = 0
    parent: str | None = None
    state: UnitState = UnitState.PENDING
    reason: str = ""
    attempt: int = 0
    rounds: int = 0
    """Review rounds of the current attempt (fix requests sent + 1)."""
    children: tuple[str, ...] = ()
    sessions: Mapping[str, str] = field(default_factory=_no_sessions)
    """Role (``worker``, ``reviewer``) -> session id of the attempt."""
    report: dict[str, Any] | None = None
    """The newest worker report of the unit (released when the unit is final)."""
    summary: str | None = None
    """The newest report's summary (``None``: no report), kept once the unit is final."""
    learnings: tuple[str, ...] = ()
    """A verified unit's learnings: its report's, then its final verdict's."""
    verdict: dict[str, Any] | None = None
    shadow_verdict: dict[str, Any] | None = None
    checks: tuple[dict[str, Any], ...] = ()
    failures: tuple[str, ...] = ()
    tokens: int = 0
    cost: float = 0.0
    turns: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    won_by: int | None = None
    kinds: frozenset[str] = EMPTY_KINDS
    """Turn kinds already sent in the current attempt (a nudge or a recovery happens once)."""
    next_turn: str | None = None
    directory: str | None = None
    """The worktree a racing strategy runs in (``None``: the project)."""
    race_of: str | None = None
    """For a racing strategy: the unit it races for."""
    strategy: str | None = None
    """The racing strategy this unit is or was split from (``None``: a unit of the plan).

    Such units do not count for the seal or the totals: the unit raced for does.
    """
    review_round: int = 0
    """The round the last final verdict belongs to."""
    lost: int = 0
    """Attempts whose answer could not be read back after a crash (not the worker's fault)."""
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Turn kind -> ``turn.ended`` payload not yet acted on (a crash came in between).

    Changed in place: a turn's follower holds on to it while the turn runs.
    """
    id: str = field(init=False, repr=False, compare=False)
    """The unit's id, its spec's: kept at hand, it is read on every step of the unit."""

    def __post_init__(self) -> None:
        self.id = self.spec.id


@dataclass(slots=True)
class TurnModel:
    """A prompt sent (or about to be) and not ended yet."""

    id: str
    session: str
    message: str
    kind: TurnKind
    unit: str | None
    attempt: int
    accepted: bool = False
    assistant_message: str | None = None
    restates: TurnKind | None = None

    @property
    def effective_kind(self) -> TurnKind:
        """The kind whose answer this turn gives (a restatement answers for its original)."""
        return self.restates if self.restates is not None else self.kind
