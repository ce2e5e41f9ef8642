"""The zero-overhead schedule the mission benchmark compares the engine with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from list_schedule import UnitTurns, list_schedule


def test_a_chain_runs_its_units_one_after_another() -> None:
    units = {"a": UnitTurns(worker=1.0, review=2.0), "b": UnitTurns(worker=1.0, review=2.0)}
    assert list_schedule(units, {"a": [], "b": ["a"]}, {"a": 2, "b": 1}, 8) == 6.0


def test_independent_units_share_the_slots() -> None:
    units = {uid: UnitTurns(worker=1.0, review=1.0) for uid in "abcd"}
    deps: dict[str, list[str]] = {uid: [] for uid in "abcd"}
    ranks = dict.fromkeys("abcd", 1.0)
    assert list_schedule(units, deps, ranks, 4) == 2.0
    assert list_schedule(units, deps, ranks, 2) == 4.0
    assert list_schedule(units, deps, ranks, 1) == 8.0


@pytest.mark.parametrize(
    ("slots", "expected"),
    [
        # worker 0-3, shadow from its first file 1-2 beside it, review 3-4
        (2, 4.0),
        # one slot: the shadow review waits for the worker's, then the review for it
        (1, 5.0),
    ],
)
def test_the_shadow_review_starts_at_the_first_file(slots: int, expected: float) -> None:
    unit = UnitTurns(worker=3.0, review=1.0, shadow=1.0, first_file=1.0)
    assert list_schedule({"a": unit}, {"a": []}, {"a": 1}, slots) == expected


def test_the_final_review_waits_for_a_shadow_review_still_running() -> None:
    units = {
        "a": UnitTurns(worker=2.0, review=1.0, shadow=3.0, first_file=1.0),
        "b": UnitTurns(worker=1.0, review=0.0),
    }
    # a's shadow review 1-4 outlasts its worker (0-2): its review runs 4-5, then b 5-6
    assert list_schedule(units, {"a": [], "b": ["a"]}, {"a": 2, "b": 1}, 2) == 6.0


def test_without_a_first_file_the_shadow_review_starts_when_the_worker_ends() -> None:
    unit = UnitTurns(worker=2.0, review=1.0, shadow=1.0)
    assert list_schedule({"a": unit}, {"a": []}, {"a": 1}, 2) == 4.0


def test_the_longest_chain_is_dispatched_first() -> None:
    # a (1 s) unlocks c (4 s); b and d take 1 s each; two slots.
    units = {
        "a": UnitTurns(worker=1.0, review=0.0),
        "b": UnitTurns(worker=1.0, review=0.0),
        "c": UnitTurns(worker=4.0, review=0.0),
        "d": UnitTurns(worker=1.0, review=0.0),
    }
    deps = {"a": [], "b": [], "c": ["a"], "d": []}
    # a first: c runs 1-5 beside b and d
    assert list_schedule(units, deps, {"a": 2, "b": 1, "c": 1, "d": 1}, 2) == 5.0
    # a ranked last: b and d take 0-1, a 1-2, c 2-6
    assert list_schedule(units, deps, {"a": 0, "b": 1, "c": 1, "d": 1}, 2) == 6.0


def test_a_unit_without_turns_is_verified_at_once() -> None:
    units = {"b": UnitTurns(worker=1.0, review=1.0)}
    assert list_schedule(units, {"a": [], "b": ["a"]}, {"a": 2, "b": 1}, 1) == 2.0
