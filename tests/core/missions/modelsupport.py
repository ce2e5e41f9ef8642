"""Hand-built mission models: records applied as the journal would, observed as the core does.

:class:`Journaled` applies each record to a :class:`MissionModel` (as
``Journal.write`` does) and then passes it to the observers (as the core's
journal hook does), with a timestamp the test chooses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.records import RecordType, TurnKind, TurnStatus

__all__ = ["Journaled", "journaled"]

Observer = Callable[[str, dict[str, Any]], object]


@dataclass
class Journaled:
    """A model and the observers of the records written to it."""

    model: MissionModel
    observers: list[Observer] = field(default_factory=list)
    ts: float = 1_000.0
    _turns: int = 0

    def write(self, record_type: RecordType, data: dict[str, Any], ts: float | None = None) -> None:
        """Apply one record at ``ts`` (default: one second after the last) and observe it."""
        self.ts = ts if ts is not None else self.ts + 1.0
        self.model.apply(record_type.value, data, self.ts)
        for observer in self.observers:
            observer(record_type.value, data)

    def state(self, state: str, reason: str = "", iteration: int | None = None) -> None:
        """``mission.state``."""
        data = {"state": state, "reason": reason, "iteration": iteration or self.model.iteration}
        self.write(RecordType.MISSION_STATE, data)

    def unit(
        self, unit: str, state: str, reason: str = "", ts: float | None = None, **extra: Any
    ) -> None:
        """``unit.state`` (``extra``: more payload, such as ``attempt``)."""
        data = {"unit": unit, "state": state, "reason": reason, **extra}
        self.write(RecordType.UNIT_STATE, data, ts)

    def session(self, unit: str, role: str, attempt: int, session: str) -> None:
        """``session.created``."""
        data = {"session": session, "role": role, "unit": unit, "attempt": attempt}
        self.write(RecordType.SESSION_CREATED, {**data, "directory": None})

    def turn(
        self, unit: str | None, tokens: int, cost: float, kind: TurnKind = TurnKind.WORK
    ) -> None:
        """A whole turn of ``unit``: its intent, then its end with that usage."""
        self._turns += 1
        turn = f"t{self._turns}"
        self.write(
            RecordType.TURN_INTENT,
            {
                "turn": turn,
                "session": f"s-{unit}",
                "message": f"m{turn}",
                "kind": kind.value,
                "unit": unit,
                "attempt": 1,
            },
        )
        self.write(
            RecordType.TURN_ENDED,
            {"turn": turn, "status": TurnStatus.COMPLETED.value, "tokens": tokens, "cost": cost},
        )

    def run_unit(
        self, unit: str, tokens: int = 1000, cost: float = 0.01, end: str = "verified"
    ) -> None:
        """``unit`` from READY through one attempt to ``end``."""
        self.unit(unit, "ready")
        self.unit(unit, "dispatched", attempt=self.model.units[unit].attempt + 1)
        self.turn(unit, tokens, cost)
        self.unit(unit, end, reason="" if end == "verified" else "it broke")


def journaled(
    units: list[str],
    *,
    parent: str | None = "ses_parent",
    budget: dict[str, Any] | None = None,
    keep_evidence: bool = False,
    mission_id: str = "m-test1234",
    running: bool = True,
) -> Journaled:
    """A mission with ``units`` planned (and RUNNING unless ``running`` is false)."""
    model = MissionModel(keep_evidence=keep_evidence)
    book = Journaled(model)
    book.write(
        RecordType.MISSION_CREATED,
        {
            "mission_id": mission_id,
            "goal": "Build the thing\nin detail",
            "project": "/p",
            "parent_session": parent,
            "config": {"budget": budget or {}},
            "created_at": 1_000.0,
        },
        ts=1_000.0,
    )
    book.write(
        RecordType.PLAN_ACCEPTED,
        {
            "iteration": 1,
            "summary": "the plan",
            "units": [{"id": u, "title": f"unit {u}"} for u in units],
        },
    )
    if running:
        book.state("running")
    return book
