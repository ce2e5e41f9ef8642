"""The open turns' per-unit index stays what filtering every open turn would give."""

from __future__ import annotations

import pytest

from opencode_orchestrator.mission.model import MissionModel, TurnModel
from opencode_orchestrator.mission.openturns import OpenTurns
from opencode_orchestrator.mission.records import RecordType, TurnKind


def _turn(turn_id: str, unit: str | None) -> TurnModel:
    return TurnModel(turn_id, f"s-{turn_id}", f"m-{turn_id}", TurnKind.WORK, unit, 1)


def _scanned(turns: OpenTurns, unit: str | None) -> list[TurnModel]:
    return [t for t in turns.values() if t.unit == unit]


def _assert_indexed(turns: OpenTurns) -> None:
    units = {t.unit for t in turns.values()}
    assert set(turns.units()) == units
    for unit in (*units, "nobody"):
        assert turns.of_unit(unit) == _scanned(turns, unit)


def test_every_way_of_changing_the_dict_keeps_the_index() -> None:
    turns = OpenTurns()
    turns["t1"] = _turn("t1", "u1")
    turns["t2"] = _turn("t2", "u2")
    turns["t3"] = _turn("t3", "u1")
    turns["t4"] = _turn("t4", None)
    _assert_indexed(turns)
    assert [t.id for t in turns.of_unit("u1")] == ["t1", "t3"]  # oldest first
    turns["t1"] = _turn("t1", "u2")  # replaced: moves to its new unit
    _assert_indexed(turns)
    del turns["t2"]
    assert turns.pop("t3").id == "t3"
    assert turns.pop("t3", None) is None
    with pytest.raises(KeyError):
        turns.pop("t3")
    _assert_indexed(turns)
    turns.update({"t5": _turn("t5", "u5")}, [("t6", _turn("t6", "u5"))], t7=_turn("t7", "u7"))
    turns |= {"t8": _turn("t8", "u8")}
    assert turns.setdefault("t9", _turn("t9", "u9")).id == "t9"
    assert turns.setdefault("t9", _turn("t9", "u1")).unit == "u9"  # kept
    _assert_indexed(turns)
    assert turns.popitem()[0] == "t9"
    _assert_indexed(turns)
    assert type(turns.copy()) is dict
    turns.clear()
    assert list(turns.units()) == []
    _assert_indexed(turns)


def test_the_model_indexes_the_turns_its_records_open_and_end() -> None:
    model = MissionModel()
    for n, unit in enumerate(("u1", "u2", "u1", None), start=1):
        data = {"turn": f"t{n}", "session": "s", "message": f"t{n}", "kind": "work", "unit": unit}
        model.apply(RecordType.TURN_INTENT, data, 0.0)
    assert [t.id for t in model.open_turns("u1")] == ["t1", "t3"]
    assert [t.id for t in model.open_turns()] == ["t1", "t2", "t3", "t4"]
    model.apply(RecordType.TURN_ENDED, {"turn": "t1", "status": "aborted"}, 0.0)
    assert [t.id for t in model.open_turns("u1")] == ["t3"]
    assert set(model.turns.units()) == {"u1", "u2", None}
    _assert_indexed(model.turns)
