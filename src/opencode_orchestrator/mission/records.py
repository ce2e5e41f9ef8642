"""The mission's WAL records: one type per fact, each written before its effect.

=====================  ======================================================
type                   fact
=====================  ======================================================
``mission.created``    goal, project, parent session, settings
``mission.state``      the mission moved to another :class:`MissionState`
``plan.accepted``      a validated plan (or sub-plan) joined the mission
``unit.state``         a unit moved to another :class:`UnitState`
``session.created``    a child session exists for (unit, role, attempt)
``turn.intent``        a prompt is about to be sent (its message id is the
                       idempotency key: resume asks OpenCode whether it arrived)
``turn.accepted``      the first event of that turn was seen
``turn.message``       the assistant message id of the turn (results of
                       ``format`` prompts can only be read back by id)
``turn.ended``         how the turn ended, its usage and its answer
``check.result``       a check command ran: command, exit code, output tail
``review.verdict``     a reviewer's verdict on a unit (shadow or final)
``race.won``           a raced unit's winning strategy, applied to the project
``mission.cancel``     a cancel was requested
``mission.sealed``     every seal condition held; the evidence
=====================  ======================================================

Payloads are validated against the models below on append (never on replay).
Replaying them in order through :class:`~opencode_orchestrator.mission.model.MissionModel`
rebuilds the engine's state exactly.
"""

from __future__ import annotations

import enum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.wal.registry import RecordRegistry

__all__ = [
    "MISSION_REGISTRY",
    "CheckResult",
    "MissionCreated",
    "MissionSealed",
    "MissionStateChanged",
    "PlanAccepted",
    "RaceWon",
    "RecordType",
    "ReviewRecorded",
    "SessionCreated",
    "TurnAccepted",
    "TurnEnded",
    "TurnIntent",
    "TurnKind",
    "TurnMessage",
    "TurnStatus",
    "UnitStateChanged",
]


class RecordType(enum.StrEnum):
    """The record types of a mission's WAL."""

    MISSION_CREATED = "mission.created"
    MISSION_STATE = "mission.state"
    PLAN_ACCEPTED = "plan.accepted"
    UNIT_STATE = "unit.state"
    SESSION_CREATED = "session.created"
    TURN_INTENT = "turn.intent"
    TURN_ACCEPTED = "turn.accepted"
    TURN_MESSAGE = "turn.message"
    TURN_ENDED = "turn.ended"
    CHECK_RESULT = "check.result"
    REVIEW_VERDICT = "review.verdict"
    RACE_WON = "race.won"
    MISSION_CANCEL = "mission.cancel"
    MISSION_SEALED = "mission.sealed"


class TurnKind(enum.StrEnum):
    """Why a prompt was sent."""

    PLAN = "plan"
    WORK = "work"
    FIX = "fix"
    RECOVER = "recover"
    NUDGE = "nudge"
    CONTINUE = "continue"
    SUBUNITS_DONE = "subunits_done"
    SHADOW_REVIEW = "shadow_review"
    REVIEW = "review"
    MASTER_REVIEW = "master_review"
    RESTATE = "restate"
    """Repeat an answer that ended while the core was down and cannot be read back."""


class TurnStatus(enum.StrEnum):
    """How a turn ended."""

    COMPLETED = "completed"
    """The session went idle after answering (the answer may still lack a report)."""
    ERROR = "error"
    """The turn ended with an error (``session.error`` / the message's error)."""
    ABORTED = "aborted"
    TIMEOUT = "timeout"
    LOST = "lost"
    """No answer to be had: it could not be read back after a crash (the session is
    asked to restate it), or the turn was cut off mid-answer (``error_name``
    ``Interrupted``: it is asked again). Not the agent's fault: no attempt is spent."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MissionCreated(_Payload):
    """A mission began: its goal, project, parent session and settings."""

    mission_id: str
    goal: str
    project: str
    parent_session: str | None = None
    config: dict[str, Any]
    created_at: float


class MissionStateChanged(_Payload):
    """The mission moved to ``state`` (``iteration`` counts plan → review loops)."""

    state: MissionState
    reason: str = ""
    iteration: int = 1


class PlanAccepted(_Payload):
    """A validated plan (or sub-plan, or set of racing strategies) joined the mission."""

    iteration: int
    parent_unit: str | None = None
    """Set for a sub-plan (fractal delegation): the unit it replaces."""
    summary: str = ""
    units: list[dict[str, Any]]
    checks: list[str] = Field(default_factory=list)
    learnings: list[str] = Field(default_factory=list)
    race: bool = False
    """The units are racing strategies for ``parent_unit``: the first verified wins."""
    directories: dict[str, str] = Field(default_factory=dict)
    """Unit id -> the worktree it runs in (racing strategies)."""


class UnitStateChanged(_Payload):
    """A unit moved to ``state``."""

    unit: str
    state: UnitState
    reason: str = ""
    attempt: int = 0
    next_turn: TurnKind | None = None
    """With ``running``: the prompt the worker session gets next (resume sends it)."""


class SessionCreated(_Payload):
    """A child session exists for a role of a unit's attempt (or of the mission)."""

    session: str
    role: str
    unit: str | None = None
    attempt: int = 0
    directory: str | None = None
    """The worktree a racing strategy runs in (``None``: the project)."""


class TurnIntent(_Payload):
    """A prompt is about to be sent; ``message`` is its user message id (idempotency key)."""

    turn: str
    session: str
    message: str
    kind: TurnKind
    unit: str | None = None
    attempt: int = 0
    restates: TurnKind | None = None
    """With kind ``restate``: the kind of the turn whose answer is asked for again."""


class TurnAccepted(_Payload):
    """The first event of the turn was seen (``event`` names it)."""

    turn: str
    event: str


class TurnMessage(_Payload):
    """The turn's assistant message id, needed to read its answer back after a crash."""

    turn: str
    message: str


class TurnEnded(_Payload):
    """How a turn ended, what it cost, and its structured answer."""

    turn: str
    status: TurnStatus
    tokens: int = 0
    cost: float = 0.0
    error: str | None = None
    error_name: str | None = None
    answer: dict[str, Any] | None = None
    """The structured output, when the turn produced one."""
    tool_errors: list[str] = Field(default_factory=list)


class CheckResult(_Payload):
    """A check command ran (``unit`` ``None``: a mission check)."""

    unit: str | None
    command: str
    exit_code: int | None
    output_tail: str
    duration: float
    timed_out: bool = False


class ReviewRecorded(_Payload):
    """A reviewer's verdict."""

    unit: str | None
    """``None`` for the master review."""
    shadow: bool = False
    round: int = 0
    verdict: dict[str, Any]
    fingerprint: str | None = None
    """Master reviews: the findings and the diff, hashed (no-progress detection)."""


class RaceWon(_Payload):
    """The winning strategy of a raced unit; its change was applied to the project."""

    unit: str
    attempt: int
    directory: str


class MissionSealed(_Payload):
    """Every seal condition held; ``evidence`` lists them."""

    evidence: dict[str, Any]


_MODELS: Final[dict[RecordType, type[BaseModel] | None]] = {
    RecordType.MISSION_CREATED: MissionCreated,
    RecordType.MISSION_STATE: MissionStateChanged,
    RecordType.PLAN_ACCEPTED: PlanAccepted,
    RecordType.UNIT_STATE: UnitStateChanged,
    RecordType.SESSION_CREATED: SessionCreated,
    RecordType.TURN_INTENT: TurnIntent,
    RecordType.TURN_ACCEPTED: TurnAccepted,
    RecordType.TURN_MESSAGE: TurnMessage,
    RecordType.TURN_ENDED: TurnEnded,
    RecordType.CHECK_RESULT: CheckResult,
    RecordType.REVIEW_VERDICT: ReviewRecorded,
    RecordType.RACE_WON: RaceWon,
    RecordType.MISSION_CANCEL: None,
    RecordType.MISSION_SEALED: MissionSealed,
}

MISSION_REGISTRY: Final = RecordRegistry()
"""The registry a mission's WAL is opened with."""
for _type, _model in _MODELS.items():
    MISSION_REGISTRY.register(_type.value, _model)
