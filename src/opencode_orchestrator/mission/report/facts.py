"""What the report needs from the journal that the mission model does not keep.

The model folds records into *state*: a turn is forgotten once it ended, a
unit keeps its last verdict, usage is summed per unit. The report wants the
*history*: when each turn began and ended and how, every review round, the
files each worker said it changed, usage per role. :class:`JournalFacts`
folds the same records for that, alongside the model (see
:mod:`~opencode_orchestrator.mission.report.replay`). Memory grows with the
number of turns (a few hundred bytes each), which a report can afford.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

from opencode_orchestrator.mission.records import RecordType, TurnKind, TurnStatus

__all__ = ["ROLES", "CheckSpan", "JournalFacts", "PhaseMark", "TurnSpan", "role_of"]

ROLES: Final = ("planner", "worker", "shadow_reviewer", "reviewer", "master")
"""Who a turn works for, in the order reports list them."""

_ROLE_OF_KIND: Final[dict[str, str]] = {
    TurnKind.PLAN: "planner",
    TurnKind.WORK: "worker",
    TurnKind.FIX: "worker",
    TurnKind.RECOVER: "worker",
    TurnKind.NUDGE: "worker",
    TurnKind.CONTINUE: "worker",
    TurnKind.SUBUNITS_DONE: "worker",
    TurnKind.SHADOW_REVIEW: "shadow_reviewer",
    TurnKind.REVIEW: "reviewer",
    TurnKind.MASTER_REVIEW: "master",
}

_ROUND_GAP: Final = 1.0
"""Seconds between two check records of one round, at most (they are written together)."""

_REVIEW_KINDS: Final = frozenset({TurnKind.SHADOW_REVIEW, TurnKind.REVIEW, TurnKind.MASTER_REVIEW})


def role_of(kind: str) -> str:
    """The role a turn of ``kind`` (its effective kind: a restatement's original) plays."""
    return _ROLE_OF_KIND.get(kind, "worker")


@dataclass(slots=True)
class TurnSpan:
    """One prompt, from its intent to its end (``end`` ``None``: never ended in the log)."""

    kind: str
    """The effective kind (a restatement counts as the turn it restates)."""
    unit: str | None
    attempt: int
    start: float
    restated: bool = False
    end: float | None = None
    status: str | None = None
    tokens: int = 0
    cost: float = 0.0
    error: str | None = None
    verdict: str | None = None
    """For review turns: the verdict recorded after the turn (``pass``/``fail``)."""

    @property
    def role(self) -> str:
        """Who the turn works for."""
        return role_of(self.kind)


@dataclass(frozen=True, slots=True)
class CheckSpan:
    """A check command that ran (``unit`` ``None``: a mission check).

    ``start`` and ``end`` are laid out from the records: a round's checks run
    one after another and are journaled together once the last one ended, so
    the checks of one round (of one unit, or the mission's) are laid back to
    back, each as long as its ``duration``, the last ending at the last
    record's time. A round ends with its unit's next state (the mission's,
    for mission checks), or at a record written more than a second, and more
    than its own check took, after the one before: that check may have run
    after it (a round run again after a resume), where a round's records are
    written within milliseconds.
    """

    unit: str | None
    command: str
    exit_code: int | None
    timed_out: bool
    start: float
    end: float
    output_tail: str = ""


@dataclass(frozen=True, slots=True)
class PhaseMark:
    """The mission entered ``state`` at ``ts``."""

    state: str
    ts: float
    iteration: int


@dataclass(slots=True)
class JournalFacts:
    """The history of one mission, folded from its records in order."""

    phases: list[PhaseMark] = field(default_factory=list)
    turns: list[TurnSpan] = field(default_factory=list)
    checks: list[CheckSpan] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)
    """Unit -> the files its workers reported changed, first mention first."""
    reviews: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Unit -> every verdict recorded on it (shadow and final), oldest first."""
    _open: dict[str, TurnSpan] = field(default_factory=dict, repr=False)
    _unjudged: dict[tuple[str | None, str], TurnSpan] = field(default_factory=dict, repr=False)
    """(unit, review kind) -> its last ended review turn still waiting for its verdict."""
    _rounds: dict[str | None, tuple[float, list[int]]] = field(default_factory=dict, repr=False)
    """Unit (``None``: the mission) -> its last check record's time, and the indices in
    ``checks`` of that record's round so far."""

    def apply(self, record_type: str, data: dict[str, Any], ts: float) -> None:
        """Fold one record in (unknown types are passed over).

        Fed after the model (:func:`~opencode_orchestrator.mission.store.read_journal`),
        which has already refused a malformed payload of a type both know.
        """
        handler = _HANDLERS.get(record_type)
        if handler is not None:
            handler(self, data, ts)

    def _created(self, data: dict[str, Any], ts: float) -> None:
        self.phases.append(PhaseMark("planning", float(data.get("created_at", ts)), 1))

    def _state(self, data: dict[str, Any], ts: float) -> None:
        self.phases.append(PhaseMark(str(data["state"]), ts, int(data.get("iteration", 1))))
        self._rounds.clear()  # the mission's checks run in a phase of their own

    def _unit_state(self, data: dict[str, Any], ts: float) -> None:
        # A unit runs a round of checks between two of its states.
        self._rounds.pop(data["unit"], None)

    def _intent(self, data: dict[str, Any], ts: float) -> None:
        restates = data.get("restates")
        span = TurnSpan(
            kind=str(restates or data["kind"]),
            unit=data.get("unit"),
            attempt=int(data.get("attempt", 0)),
            start=ts,
            restated=bool(restates),
        )
        self._open[str(data["turn"])] = span
        self.turns.append(span)

    def _ended(self, data: dict[str, Any], ts: float) -> None:
        span = self._open.pop(str(data["turn"]), None)
        if span is None:
            return
        span.end = ts
        span.status = str(data["status"])
        span.tokens = int(data.get("tokens", 0))
        span.cost = float(data.get("cost", 0.0))
        span.error = data.get("error")
        if span.kind in _REVIEW_KINDS:
            self._unjudged[(span.unit, span.kind)] = span
        answer = data.get("answer")
        if (
            span.unit is not None
            and span.role == "worker"
            and span.status == TurnStatus.COMPLETED
            and isinstance(answer, dict)
        ):
            known = self.files.setdefault(span.unit, [])
            for name in answer.get("files_changed") or ():
                if isinstance(name, str) and name not in known:
                    known.append(name)

    def _check(self, data: dict[str, Any], ts: float) -> None:
        duration = max(0.0, float(data.get("duration") or 0.0))
        unit: str | None = data.get("unit")
        span = CheckSpan(
            unit=unit,
            command=str(data["command"]),
            exit_code=data.get("exit_code"),
            timed_out=bool(data.get("timed_out", False)),
            start=ts - duration,
            end=ts,
            output_tail=str(data.get("output_tail", "")),
        )
        previous, earlier = self._rounds.get(unit, (float("-inf"), []))
        if ts - previous >= max(duration, _ROUND_GAP):
            earlier = []  # this check may have run after that record: a new round
        # The earlier checks of the round ran before this one, back to back.
        end = span.start
        for index in reversed(earlier):
            ran = self.checks[index]
            length = ran.end - ran.start
            self.checks[index] = replace(ran, start=end - length, end=end)
            end -= length
        earlier.append(len(self.checks))
        self._rounds[unit] = (ts, earlier)
        self.checks.append(span)

    def _review(self, data: dict[str, Any], ts: float) -> None:
        unit: str | None = data.get("unit")
        verdict = data["verdict"]
        if unit is None:
            kind = TurnKind.MASTER_REVIEW.value
        else:
            kind = TurnKind.SHADOW_REVIEW.value if data.get("shadow") else TurnKind.REVIEW.value
        span = self._unjudged.pop((unit, kind), None)
        if span is not None and isinstance(verdict, dict):
            span.verdict = str(verdict.get("verdict", "")) or None
        if unit is not None:
            self.reviews.setdefault(unit, []).append(
                {
                    "round": int(data.get("round", 0)),
                    "shadow": bool(data.get("shadow", False)),
                    "verdict": verdict.get("verdict") if isinstance(verdict, dict) else None,
                    "findings": list(verdict.get("findings", ()))
                    if isinstance(verdict, dict)
                    else [],
                }
            )


_HANDLERS = {
    RecordType.MISSION_CREATED.value: JournalFacts._created,
    RecordType.MISSION_STATE.value: JournalFacts._state,
    RecordType.UNIT_STATE.value: JournalFacts._unit_state,
    RecordType.TURN_INTENT.value: JournalFacts._intent,
    RecordType.TURN_ENDED.value: JournalFacts._ended,
    RecordType.CHECK_RESULT.value: JournalFacts._check,
    RecordType.REVIEW_VERDICT.value: JournalFacts._review,
}
