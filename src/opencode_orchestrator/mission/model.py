"""The mission's state in memory, rebuilt from its WAL by folding records in order.

:meth:`MissionModel.check` says whether a record may be written (a forbidden
transition raises :class:`~opencode_orchestrator.mission.errors.TransitionError`
*before* anything reaches the log); :meth:`MissionModel.apply` folds a written
record in. Replay is ``apply`` over the recovered records, so the state after
a crash is exactly the state before it, as far as the log knew.

Only open turns are kept (an ended turn's facts move to its unit), so memory
grows with units, not with the length of the log. A unit that becomes final
(verified, failed, skipped, cancelled) keeps only what later decisions read:
its state and reason, its counts and failures, its report's summary (for the
units that depend on it and the master review) and its learnings (for the
knowledge file). Its working state (open outcomes, turn kinds, the report) is
released, and so is its *evidence* (sessions, verdicts, check results, usage,
times), unless the model was made with ``keep_evidence=True``: the evidence
stays in the journal, and the report and ``status`` readers replay it into
such a model (:func:`~opencode_orchestrator.mission.store.load_mission`). So
the engine's model grows by little more than a summary per finished unit
while a long mission runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.errors import MissionError
from opencode_orchestrator.mission.openturns import OpenTurns
from opencode_orchestrator.mission.records import RecordType, TurnKind, TurnStatus
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.mission.unit_model import (
    EMPTY_KINDS,
    EMPTY_SESSIONS,
    WORKER_KINDS,
    TurnModel,
    UnitModel,
)

__all__ = ["WORKER_KINDS", "MissionModel", "TurnModel", "UnitModel"]

_WORKER_KIND_VALUES: Final = tuple(kind.value for kind in WORKER_KINDS)

# Value -> member: a record's states and kinds are strings, and calling the enum
# (its metaclass's __call__) cost a microsecond or two, several times a record.
_UNIT_STATES: Final = {state.value: state for state in UnitState}
_MISSION_STATES: Final = {state.value: state for state in MissionState}
_TURN_KINDS: Final = {kind.value: kind for kind in TurnKind}


def _as_unit_state(value: str) -> UnitState:
    state = _UNIT_STATES.get(value)
    return UnitState(value) if state is None else state  # unknown: ValueError as before


def _as_mission_state(value: str) -> MissionState:
    state = _MISSION_STATES.get(value)
    return MissionState(value) if state is None else state


def _as_turn_kind(value: str) -> TurnKind:
    kind = _TURN_KINDS.get(value)
    return TurnKind(value) if kind is None else kind


@dataclass(slots=True)
class MissionModel:
    """Everything the engine knows about one mission."""

    keep_evidence: bool = False
    """Keep finished units' evidence (sessions, verdicts, checks, usage) and every
    session's record: what reports and ``status`` show. The engine's model does
    not: the journal has it, and memory stays flat over a long mission."""
    mission_id: str = ""
    goal: str = ""
    project: str = ""
    parent_session: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    state: MissionState = MissionState.PLANNING
    reason: str = ""
    iteration: int = 1
    units: dict[str, UnitModel] = field(default_factory=dict)
    turns: OpenTurns = field(default_factory=OpenTurns)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Session id -> its ``session.created`` record. Without ``keep_evidence``, only
    the mission's own sessions and the current ones of units not final."""
    plan_summaries: list[str] = field(default_factory=list)
    plan_learnings: list[str] = field(default_factory=list)
    """The newest plan's learnings (for the knowledge file)."""
    mission_checks: list[str] = field(default_factory=list)
    check_results: list[dict[str, Any]] = field(default_factory=list)
    """Mission-level check evidence of the current iteration."""
    master_verdicts: list[dict[str, Any]] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)
    tokens: int = 0
    cost: float = 0.0
    turns_ended: int = 0
    cancel_requested: bool = False
    sealed_evidence: dict[str, Any] | None = None
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Mission-level turn kind (plan, master review) -> ended turn not yet acted on."""
    created: bool = False
    last_ts: float = 0.0
    _reasons: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    """One copy of each verified unit's reason (few texts, many units, when replayed)."""

    # -- checks -----------------------------------------------------------------

    def check(self, record_type: str, data: dict[str, Any]) -> None:
        """Raise if ``data`` under ``record_type`` may not be written now.

        Raises:
            TransitionError: the record moves a state machine along a forbidden edge.
            MissionError: the record names an unknown unit or turn, or repeats a fact.
        """
        if record_type == RecordType.UNIT_STATE:  # the commonest first
            self._unit(data["unit"]).state.check(_as_unit_state(data["state"]))
        elif record_type == RecordType.MISSION_STATE:
            self.state.check(_as_mission_state(data["state"]))
        elif record_type == RecordType.MISSION_CREATED:
            if self.created:
                raise MissionError("mission.created written twice")
        elif record_type == RecordType.PLAN_ACCEPTED:
            for unit in data["units"]:
                if unit["id"] in self.units:
                    raise MissionError(f"unit {unit['id']!r} already exists")
        elif (
            record_type in (RecordType.TURN_ACCEPTED, RecordType.TURN_MESSAGE)
            or record_type == RecordType.TURN_ENDED
        ):
            self._turn(data["turn"])
        elif record_type == RecordType.TURN_INTENT and data["turn"] in self.turns:
            raise MissionError(f"turn {data['turn']!r} already has an intent")

    def _unit(self, unit_id: str) -> UnitModel:
        try:
            return self.units[unit_id]
        except KeyError:
            raise MissionError(f"unknown unit {unit_id!r}") from None

    def _turn(self, turn_id: str) -> TurnModel:
        try:
            return self.turns[turn_id]
        except KeyError:
            raise MissionError(f"unknown or ended turn {turn_id!r}") from None

    # -- apply ------------------------------------------------------------------

    def apply(self, record_type: str, data: dict[str, Any], ts: float) -> None:
        """Fold one written record into the state (no checks: it is in the log)."""
        self.last_ts = ts
        handler = _HANDLERS.get(record_type)
        if handler is not None:
            handler(self, data, ts)

    def _mission_created(self, data: dict[str, Any], ts: float) -> None:
        self.created = True
        self.mission_id = data["mission_id"]
        self.goal = data["goal"]
        self.project = data["project"]
        self.parent_session = data.get("parent_session")
        self.config = data["config"]
        self.created_at = data["created_at"]

    def _mission_state(self, data: dict[str, Any], ts: float) -> None:
        state = _as_mission_state(data["state"])
        self.iteration = data.get("iteration", self.iteration)
        if state is MissionState.BARRIER:
            self.check_results = []  # each integration round runs the mission checks afresh
        self.state = state
        self.reason = data.get("reason", "")

    def _plan_accepted(self, data: dict[str, Any], ts: float) -> None:
        parent_id = data.get("parent_unit")
        parent = self.units.get(parent_id) if parent_id else None
        for raw in data["units"]:
            spec = UnitSpec.model_validate(raw)
            unit = UnitModel(spec=spec, iteration=data["iteration"])
            unit.directory = data.get("directories", {}).get(spec.id)
            if data.get("race"):
                unit.race_of = parent_id
                unit.strategy = spec.id
            if parent is not None:
                unit.strategy = unit.strategy or parent.strategy
                unit.depth = parent.depth + 1
                unit.parent = parent.id
                parent.children = (*parent.children, spec.id)
            self.units[spec.id] = unit
        if parent is None:
            self.pending.pop(TurnKind.PLAN.value, None)
            self.plan_summaries.append(data.get("summary", ""))
            self.plan_learnings = list(data.get("learnings", []))
        for command in data.get("checks", ()):
            if command not in self.mission_checks:
                self.mission_checks.append(command)

    def _unit_state(self, data: dict[str, Any], ts: float) -> None:
        unit = self.units[data["unit"]]
        state = _as_unit_state(data["state"])
        reason = data.get("reason", "")
        if state is UnitState.DISPATCHED:
            unit.attempt = data.get("attempt", unit.attempt + 1)
            unit.rounds = 1
            unit.kinds = EMPTY_KINDS
            unit.verdict = None
            unit.shadow_verdict = None
            unit.checks = ()
            unit.started_at = unit.started_at or ts
        elif state is UnitState.RUNNING and unit.state is UnitState.REVIEWING:
            unit.rounds += 1
        if state is UnitState.READY and unit.state.active and reason:
            unit.failures = (*unit.failures, f"attempt {unit.attempt}: {reason}")
        if state is not UnitState.ACCEPTED and unit.pending:
            # A decision on the unit consumes its worker turn's outcome
            # (ACCEPTED only books the turn's acceptance).
            for kind in _WORKER_KIND_VALUES:
                unit.pending.pop(kind, None)
        unit.next_turn = data.get("next_turn")
        unit.state = state
        unit.reason = reason
        if state.final:
            unit.ended_at = ts
            self._release(unit)

    def _release(self, unit: UnitModel) -> None:
        """Drop what nothing reads once ``unit`` is final (final states are never left)."""
        if unit.state is UnitState.VERIFIED:
            unit.reason = self._reasons.setdefault(unit.reason, unit.reason)
            if unit.won_by is None:  # a race's unit has its winner's already (race.won)
                unit.learnings = (*_learnings(unit.report), *_learnings(unit.verdict))
        unit.report = None
        unit.kinds = EMPTY_KINDS
        unit.pending.clear()  # clear(), not a new dict: a follower may hold this one
        unit.next_turn = None
        unit.review_round = 0
        if self.keep_evidence:
            return
        for session in unit.sessions.values():
            self.sessions.pop(session, None)
        if unit.race_of is None:  # a strategy's: the race reads them after it is final
            unit.sessions = EMPTY_SESSIONS
            unit.ended_at = None
        unit.verdict = unit.shadow_verdict = None
        unit.checks = ()
        unit.tokens, unit.cost, unit.started_at = 0, 0.0, None

    def _session_created(self, data: dict[str, Any], ts: float) -> None:
        session, unit_id = data["session"], data.get("unit")
        unit = self.units.get(unit_id) if unit_id is not None else None
        if unit is None:
            self.sessions[session] = data
            return
        role = data["role"]
        if not self.keep_evidence:
            replaced = unit.sessions.get(role)
            if replaced is not None:
                self.sessions.pop(replaced, None)  # an earlier attempt's: never asked for again
            if unit.state.final:
                return  # (never happens) released already: nothing would release it again
        self.sessions[session] = data
        unit.sessions = {**unit.sessions, role: session}

    def _turn_intent(self, data: dict[str, Any], ts: float) -> None:
        turn = TurnModel(
            id=data["turn"],
            session=data["session"],
            message=data["message"],
            kind=_as_turn_kind(data["kind"]),
            unit=data.get("unit"),
            attempt=data.get("attempt", 0),
            restates=_as_turn_kind(data["restates"]) if data.get("restates") else None,
        )
        self.turns[turn.id] = turn
        unit = self.units.get(turn.unit) if turn.unit else None
        if unit is not None:
            if turn.kind.value not in unit.kinds and not unit.state.final:
                unit.kinds = unit.kinds | {turn.kind.value}
            unit.pending.pop(turn.effective_kind.value, None)
        elif turn.unit is None:
            self.pending.pop(turn.effective_kind.value, None)

    def _turn_accepted(self, data: dict[str, Any], ts: float) -> None:
        self.turns[data["turn"]].accepted = True

    def _turn_message(self, data: dict[str, Any], ts: float) -> None:
        turn = self.turns[data["turn"]]
        turn.accepted = True
        turn.assistant_message = data["message"]

    def _turn_ended(self, data: dict[str, Any], ts: float) -> None:
        turn = self.turns.pop(data["turn"])
        tokens, cost = int(data.get("tokens", 0)), float(data.get("cost", 0.0))
        self.tokens += tokens
        self.cost += cost
        self.turns_ended += 1
        unit = self.units.get(turn.unit) if turn.unit else None
        if unit is None:
            if turn.unit is None:
                self.pending[turn.effective_kind.value] = data
            return
        unit.turns += 1
        if unit.state.final:
            # A turn closed after its unit ended (aborted when the mission
            # stopped): nobody acts on its outcome any more.
            if self.keep_evidence:
                unit.tokens += tokens
                unit.cost += cost
            return
        unit.tokens += tokens
        unit.cost += cost
        kind = turn.effective_kind
        unit.pending[kind.value] = data
        if data["status"] == TurnStatus.LOST and kind in WORKER_KINDS:
            unit.lost += 1
        answer = data.get("answer")
        if kind in WORKER_KINDS and data["status"] == TurnStatus.COMPLETED and answer:
            unit.report = answer
            unit.summary = str(answer.get("summary", ""))

    def _check_result(self, data: dict[str, Any], ts: float) -> None:
        unit_id = data.get("unit")
        if unit_id is None:
            self.check_results.append(data)
            return
        unit = self.units[unit_id]
        if unit.state.final and not self.keep_evidence:
            return  # (never happens) evidence of a unit already released
        unit.checks = (*(c for c in unit.checks if c["command"] != data["command"]), data)

    def _review(self, data: dict[str, Any], ts: float) -> None:
        unit_id = data.get("unit")
        if unit_id is None:
            self.pending.pop(TurnKind.MASTER_REVIEW.value, None)
            self.master_verdicts.append(data["verdict"])
            if data.get("fingerprint"):
                self.fingerprints.append(data["fingerprint"])
            return
        unit = self.units[unit_id]
        kind = TurnKind.SHADOW_REVIEW if data.get("shadow") else TurnKind.REVIEW
        unit.pending.pop(kind.value, None)
        if unit.state.final and not self.keep_evidence:
            return  # (never happens) evidence of a unit already released
        if data.get("shadow"):
            unit.shadow_verdict = data["verdict"]
        else:
            unit.verdict = data["verdict"]
            unit.review_round = data.get("round", 0)

    def _race_won(self, data: dict[str, Any], ts: float) -> None:
        unit = self.units[data["unit"]]
        unit.won_by = data["attempt"]
        winner = self.units.get(f"{unit.id}.r{data['attempt']}")
        if winner is not None:
            # The winner is verified: its report went, its summary and learnings stayed.
            unit.summary, unit.learnings = winner.summary, winner.learnings
            unit.verdict, unit.checks = winner.verdict, winner.checks

    def _cancel(self, data: dict[str, Any], ts: float) -> None:
        self.cancel_requested = True

    def _sealed(self, data: dict[str, Any], ts: float) -> None:
        self.sealed_evidence = data["evidence"]

    # -- queries ----------------------------------------------------------------

    def is_race(self, unit: UnitModel) -> bool:
        """Whether ``unit`` delegated to racing strategies."""
        return bool(unit.children) and self.units[unit.children[0]].race_of == unit.id

    def delegation_done(self, unit: UnitModel) -> bool:
        """Whether a DELEGATED unit can go on: its sub-units are final (a race: one won)."""
        children = [self.units[c] for c in unit.children]
        if self.is_race(unit) and any(c.state is UnitState.VERIFIED for c in children):
            return True
        return all(c.state.final for c in children)

    def open_turns(self, unit_id: str | None = None) -> list[TurnModel]:
        """Turns not ended, optionally of one unit, oldest first."""
        if unit_id is None:
            return list(self.turns.values())
        return self.turns.of_unit(unit_id)

    def session_directory(self, turn: TurnModel) -> str | None:
        """The worktree ``turn``'s session works in (``None``: the project).

        A unit's sessions are made in its directory; the record of a session
        whose unit is final may be gone (see ``keep_evidence``), the unit is not.
        """
        info = self.sessions.get(turn.session)
        if info is not None:
            directory: str | None = info.get("directory")
            return directory
        unit = self.units.get(turn.unit) if turn.unit is not None else None
        return unit.directory if unit is not None else None

    def planned_units(self) -> list[UnitModel]:
        """The units of the plan: not racing strategies, nor what they split into.

        The seal, the totals and every "verified" count go by these: a race's
        unit stands for its strategies, and a loser ends cancelled by design.
        """
        return [unit for unit in self.units.values() if unit.strategy is None]

    def plan_progress(self) -> tuple[int, int]:
        """How many of the plan's units (:meth:`planned_units`) are verified, of how many."""
        planned = self.planned_units()
        return sum(1 for u in planned if u.state is UnitState.VERIFIED), len(planned)

    def counts(self) -> dict[str, int]:
        """How many units are in each state."""
        result: dict[str, int] = {}
        for unit in self.units.values():
            result[unit.state.value] = result.get(unit.state.value, 0) + 1
        return result


def _learnings(answer: dict[str, Any] | None) -> tuple[str, ...]:
    """The ``learnings`` of a report or verdict, as the knowledge file takes them."""
    if not answer:
        return ()
    return tuple(str(entry) for entry in answer.get("learnings", ()))


_HANDLERS = {
    RecordType.MISSION_CREATED.value: MissionModel._mission_created,
    RecordType.MISSION_STATE.value: MissionModel._mission_state,
    RecordType.PLAN_ACCEPTED.value: MissionModel._plan_accepted,
    RecordType.UNIT_STATE.value: MissionModel._unit_state,
    RecordType.SESSION_CREATED.value: MissionModel._session_created,
    RecordType.TURN_INTENT.value: MissionModel._turn_intent,
    RecordType.TURN_ACCEPTED.value: MissionModel._turn_accepted,
    RecordType.TURN_MESSAGE.value: MissionModel._turn_message,
    RecordType.TURN_ENDED.value: MissionModel._turn_ended,
    RecordType.CHECK_RESULT.value: MissionModel._check_result,
    RecordType.REVIEW_VERDICT.value: MissionModel._review,
    RecordType.RACE_WON.value: MissionModel._race_won,
    RecordType.MISSION_CANCEL.value: MissionModel._cancel,
    RecordType.MISSION_SEALED.value: MissionModel._sealed,
}
