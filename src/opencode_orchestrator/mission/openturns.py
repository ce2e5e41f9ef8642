"""The mission's open turns by id, also indexed by unit.

A unit's open turns are asked for several times a turn (is one to adopt, is
a shadow review in flight); filtering every open turn of the mission for them
cost a scan of ~50-100 turns each time. :class:`OpenTurns` is the dict the
model keeps them in, and keeps a per-unit index beside it through every way a
dict can be changed, so the index holds even for code (tests, views) that
fills the dict directly.
"""

from __future__ import annotations

from collections.abc import Iterable, KeysView
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from opencode_orchestrator.mission.model import TurnModel

__all__ = ["OpenTurns"]

_T = TypeVar("_T")


class OpenTurns(dict[str, "TurnModel"]):
    """Turn id -> open turn, in the order the turns were opened; see :meth:`of_unit`.

    Reading is a plain dict's; only changes pass through Python (a few per turn).
    """

    __slots__ = ("_by_unit",)

    def __init__(self) -> None:
        """An empty set of open turns."""
        super().__init__()
        self._by_unit: dict[str | None, dict[str, TurnModel]] = {}

    def of_unit(self, unit_id: str | None) -> list[TurnModel]:
        """The open turns of ``unit_id`` (``None``: the mission's own), oldest first."""
        turns = self._by_unit.get(unit_id)
        return [] if turns is None else list(turns.values())

    def units(self) -> KeysView[str | None]:
        """The units (``None``: the mission) with at least one open turn (a live view)."""
        return self._by_unit.keys()

    def _unindex(self, turn_id: str, turn: TurnModel) -> None:
        of_unit = self._by_unit[turn.unit]
        del of_unit[turn_id]
        if not of_unit:
            del self._by_unit[turn.unit]

    def __setitem__(self, turn_id: str, turn: TurnModel) -> None:
        old = dict.get(self, turn_id)
        super().__setitem__(turn_id, turn)
        if old is None:
            self._by_unit.setdefault(turn.unit, {})[turn_id] = turn
            return
        # Replaced: the dict keeps the turn where it was, so its unit's index is
        # rebuilt in the dict's order (never on the engine's path: ids are new).
        self._unindex(turn_id, old)
        of_unit = {k: t for k, t in self.items() if t.unit == turn.unit}
        self._by_unit[turn.unit] = of_unit

    def __delitem__(self, turn_id: str) -> None:
        turn = self[turn_id]
        super().__delitem__(turn_id)
        self._unindex(turn_id, turn)

    @overload
    def pop(self, turn_id: str, /) -> TurnModel: ...
    @overload
    def pop(self, turn_id: str, default: TurnModel, /) -> TurnModel: ...
    @overload
    def pop(self, turn_id: str, default: _T, /) -> TurnModel | _T: ...
    def pop(self, turn_id: str, *default: Any) -> Any:
        """Remove and return the turn (or ``default``, if given and there is none)."""
        if turn_id not in self:
            return super().pop(turn_id, *default)  # raises KeyError without a default
        turn = super().pop(turn_id)
        self._unindex(turn_id, turn)
        return turn

    def popitem(self) -> tuple[str, TurnModel]:
        """Remove and return the newest turn."""
        turn_id, turn = super().popitem()
        self._unindex(turn_id, turn)
        return turn_id, turn

    def clear(self) -> None:
        """Forget every turn."""
        super().clear()
        self._by_unit.clear()

    def setdefault(self, turn_id: str, default: TurnModel) -> TurnModel:
        """The turn of ``turn_id``, set to ``default`` first if there is none."""
        if turn_id not in self:
            self[turn_id] = default
        return self[turn_id]

    def update(self, *others: Any, **turns: TurnModel) -> None:
        """Set every turn of ``others`` (mappings or pairs) and of ``turns``."""
        for other in others:
            pairs: Iterable[tuple[str, TurnModel]] = (
                other.items() if hasattr(other, "keys") else other
            )
            for turn_id, turn in pairs:
                self[turn_id] = turn
        for turn_id, turn in turns.items():
            self[turn_id] = turn

    def __ior__(self, other: Any) -> OpenTurns:  # type: ignore[override,misc]
        self.update(other)
        return self

    def copy(self) -> dict[str, TurnModel]:
        """A plain dict of the same turns (a snapshot, no index)."""
        return dict(self)
