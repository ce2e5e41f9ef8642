"""What each unit of a running mission cost and how long it took, kept after the engine lets go.

The engine's model releases a finished unit's evidence (its usage and times)
to keep memory flat over a long mission, yet ``/mission-status`` shows them
for every unit. The ledger keeps just those four numbers per unit, taken from
the model while the unit is not final, from the records the journal writes:
``turn.ended`` (usage, booked to the turn's unit, known from its
``turn.intent``), ``unit.state`` (start, end). A few dozen bytes a unit, and
open turns only in the turn index, so a 10,000-unit mission costs a few MB.

Missions read from their WAL keep their evidence (``keep_evidence``): their
figures come from the model (:func:`figures_of`), no ledger needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opencode_orchestrator.mission.model import MissionModel, UnitModel
from opencode_orchestrator.mission.records import RecordType

__all__ = ["UnitFigures", "UnitLedger", "figures_of"]


@dataclass(slots=True)
class UnitFigures:
    """One unit's usage and times (seconds since the epoch, as the WAL records them)."""

    tokens: int = 0
    cost: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None


class UnitLedger:
    """The figures of one mission's units, kept as its journal writes records."""

    def __init__(self, model: MissionModel) -> None:
        self._model = model
        self._figures: dict[str, UnitFigures] = {}
        # Open turns -> their unit: turn.ended names only the turn, and the model
        # has dropped it by the time the record's hook runs.
        self._turn_units: dict[str, str] = {
            turn.id: turn.unit for turn in model.turns.values() if turn.unit is not None
        }

    def observe(self, record_type: str, data: dict[str, Any]) -> None:
        """Fold one record the journal wrote (and the model applied) into the ledger."""
        if record_type == RecordType.TURN_INTENT:
            unit = data.get("unit")
            if unit is not None:
                self._turn_units[data["turn"]] = unit
        elif record_type == RecordType.TURN_ENDED:
            unit_id = self._turn_units.pop(data["turn"], None)
            if unit_id is not None:
                self._turn_ended(unit_id, data)
        elif record_type == RecordType.UNIT_STATE:
            self._unit_state(data["unit"])

    def _turn_ended(self, unit_id: str, data: dict[str, Any]) -> None:
        unit = self._model.units.get(unit_id)
        if unit is None:
            return
        if not unit.state.final:
            self._copy(unit)
            return
        # A turn closed after its unit ended (aborted): the model no longer counts it.
        figures = self._figures.setdefault(unit_id, UnitFigures())
        figures.tokens += int(data.get("tokens", 0))
        figures.cost += float(data.get("cost", 0.0))

    def _unit_state(self, unit_id: str) -> None:
        unit = self._model.units.get(unit_id)
        if unit is None:
            return
        if unit.state.final:
            figures = self._figures.setdefault(unit_id, UnitFigures())
            figures.ended_at = self._model.last_ts  # the ts of the record just applied
        else:
            self._copy(unit)

    def _copy(self, unit: UnitModel) -> None:
        figures = self._figures.get(unit.id)
        if figures is None:
            if unit.started_at is None and not unit.tokens:
                return  # nothing to keep yet (a unit made ready)
            figures = self._figures[unit.id] = UnitFigures()
        figures.tokens, figures.cost = unit.tokens, unit.cost
        figures.started_at = unit.started_at

    def get(self, unit_id: str) -> UnitFigures | None:
        """What the ledger knows of ``unit_id`` (``None``: nothing)."""
        return self._figures.get(unit_id)

    def missing(self) -> bool:
        """Whether a final unit has no figures here: it ended before the mission was resumed."""
        return any(u.state.final and u.id not in self._figures for u in self._model.units.values())

    def seed(self, evidence: MissionModel) -> None:
        """Take the figures of units that ended before a resume from ``evidence``.

        ``evidence``: the mission read from its journal with its evidence kept.
        Figures the ledger has already are left as they are.
        """
        for unit in evidence.units.values():
            if unit.state.final and unit.id not in self._figures:
                self._figures[unit.id] = UnitFigures(
                    unit.tokens, unit.cost, unit.started_at, unit.ended_at
                )


def figures_of(model: MissionModel, unit: UnitModel, ledger: UnitLedger | None) -> UnitFigures:
    """``unit``'s figures: the model's while it holds them, else the ledger's.

    A final unit of the engine's model (no evidence kept) that the ledger never
    saw (it ended before a resume) has none: zeros and no times.
    """
    if model.keep_evidence or not unit.state.final:
        return UnitFigures(unit.tokens, unit.cost, unit.started_at, unit.ended_at)
    found = ledger.get(unit.id) if ledger is not None else None
    return found if found is not None else UnitFigures()
