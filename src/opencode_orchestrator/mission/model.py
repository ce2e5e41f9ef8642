"""The mission's state in memory, rebuilt from its WAL by folding records in order.

:meth:`MissionModel.check` says whether a record may be written (a forbidden
transition raises :class:`~opencode_orchestrator.mission.errors.TransitionError`
*before* anything reaches the log); :meth:`MissionModel.apply` folds a written
record in. Replay is ``apply`` over the recovered records, so the state after
a crash is exactly the state before it, as far as the log knew.

Only open turns are kept (an ended turn's facts move to its unit), so memory
grows with units, not with the length of the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.errors import MissionError
from opencode_orchestrator.mission.records import RecordType, TurnKind, TurnStatus
from opencode_orchestrator.mission.states import MissionState, UnitState

__all__ = ["MissionModel", "TurnModel", "UnitModel"]

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


@dataclass(slots=True)
class UnitModel:
    """One unit: its spec, where it is, and what its attempts produced."""

    spec: UnitSpec
    iteration: int = 1
    depth: int = 0
    parent: str | None = None
    state: UnitState = UnitState.PENDING
    reason: str = ""
    attempt: int = 0
    rounds: int = 0
    """Review rounds of the current attempt (fix requests sent + 1)."""
    children: list[str] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)
    """Role (``worker``, ``reviewer``, ``worker#2`` for races) -> session id of the attempt."""
    directories: dict[int, str] = field(default_factory=dict)
    """Attempt -> worktree, for raced attempts."""
    report: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    shadow_verdict: dict[str, Any] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    tokens: int = 0
    cost: float = 0.0
    turns: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    won_by: int | None = None
    kinds: set[str] = field(default_factory=set)
    """Turn kinds already sent in the current attempt (a nudge or a recovery happens once)."""
    next_turn: str | None = None
    directory: str | None = None
    """The worktree a racing strategy runs in (``None``: the project)."""
    race_of: str | None = None
    """For a racing strategy: the unit it races for."""
    review_round: int = 0
    """The round the last final verdict belongs to."""
    lost: int = 0
    """Attempts whose answer could not be read back after a crash (not the worker's fault)."""
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Turn kind -> ``turn.ended`` payload not yet acted on (a crash came in between)."""

    @property
    def id(self) -> str:
        """The unit's id."""
        return self.spec.id


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


@dataclass(slots=True)
class MissionModel:
    """Everything the engine knows about one mission."""

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
    turns: dict[str, TurnModel] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
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

    # -- checks -----------------------------------------------------------------

    def check(self, record_type: str, data: dict[str, Any]) -> None:
        """Raise if ``data`` under ``record_type`` may not be written now.

        Raises:
            TransitionError: the record moves a state machine along a forbidden edge.
            MissionError: the record names an unknown unit or turn, or repeats a fact.
        """
        if record_type == RecordType.MISSION_STATE:
            self.state.check(MissionState(data["state"]))
        elif record_type == RecordType.UNIT_STATE:
            self._unit(data["unit"]).state.check(UnitState(data["state"]))
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
        state = MissionState(data["state"])
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
            if parent is not None:
                unit.depth = parent.depth + 1
                unit.parent = parent.id
                parent.children.append(spec.id)
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
        state = UnitState(data["state"])
        reason = data.get("reason", "")
        if state is UnitState.DISPATCHED:
            unit.attempt = data.get("attempt", unit.attempt + 1)
            unit.rounds = 1
            unit.kinds = set()
            unit.verdict = None
            unit.shadow_verdict = None
            unit.checks = []
            unit.started_at = unit.started_at or ts
        elif state is UnitState.RUNNING and unit.state is UnitState.REVIEWING:
            unit.rounds += 1
        if state is UnitState.READY and unit.state.active and reason:
            unit.failures.append(f"attempt {unit.attempt}: {reason}")
        if state.final:
            unit.ended_at = ts
        if state is not UnitState.ACCEPTED:
            # A decision on the unit consumes its worker turn's outcome
            # (ACCEPTED only books the turn's acceptance).
            for kind in WORKER_KINDS:
                unit.pending.pop(kind.value, None)
        unit.next_turn = data.get("next_turn")
        unit.state = state
        unit.reason = reason

    def _session_created(self, data: dict[str, Any], ts: float) -> None:
        self.sessions[data["session"]] = data
        unit_id = data.get("unit")
        if unit_id is not None and unit_id in self.units:
            unit = self.units[unit_id]
            unit.sessions[data["role"]] = data["session"]
            if data.get("directory"):
                unit.directories[data.get("attempt", 0)] = data["directory"]

    def _turn_intent(self, data: dict[str, Any], ts: float) -> None:
        turn = TurnModel(
            id=data["turn"],
            session=data["session"],
            message=data["message"],
            kind=TurnKind(data["kind"]),
            unit=data.get("unit"),
            attempt=data.get("attempt", 0),
            restates=TurnKind(data["restates"]) if data.get("restates") else None,
        )
        self.turns[turn.id] = turn
        unit = self.units.get(turn.unit) if turn.unit else None
        if unit is not None:
            unit.kinds.add(turn.kind.value)
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
        kind = turn.effective_kind
        unit.pending[kind.value] = data
        if data["status"] == TurnStatus.LOST and kind in WORKER_KINDS:
            unit.lost += 1
        unit.tokens += tokens
        unit.cost += cost
        unit.turns += 1
        answer = data.get("answer")
        if kind in WORKER_KINDS and data["status"] == TurnStatus.COMPLETED and answer:
            unit.report = answer

    def _check_result(self, data: dict[str, Any], ts: float) -> None:
        unit_id = data.get("unit")
        if unit_id is None:
            self.check_results.append(data)
            return
        unit = self.units[unit_id]
        unit.checks = [c for c in unit.checks if c["command"] != data["command"]]
        unit.checks.append(data)

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
            unit.report, unit.verdict, unit.checks = winner.report, winner.verdict, winner.checks

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
        return [t for t in self.turns.values() if unit_id is None or t.unit == unit_id]

    def counts(self) -> dict[str, int]:
        """How many units are in each state."""
        result: dict[str, int] = {}
        for unit in self.units.values():
            result[unit.state.value] = result.get(unit.state.value, 0) + 1
        return result


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
