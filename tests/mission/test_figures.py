"""The figures every view prints: tokens, dollars, durations, budget caps."""

from __future__ import annotations

import pytest

from opencode_orchestrator.mission.figures import (
    Caps,
    caps_of,
    cost_text,
    duration_text,
    tokens_text,
)
from opencode_orchestrator.mission.model import MissionModel


@pytest.mark.parametrize(
    ("tokens", "text"), [(0, "0"), (950, "950"), (45_230, "45.2k"), (1_204_000, "1.20M")]
)
def test_tokens_text(tokens: int, text: str) -> None:
    assert tokens_text(tokens) == text


@pytest.mark.parametrize(
    ("cost", "text"), [(0.0, "$0.00"), (0.0042, "$0.0042"), (0.21, "$0.21"), (12.5, "$12.50")]
)
def test_cost_text(cost: float, text: str) -> None:
    assert cost_text(cost) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-1.0, "0.0s"),
        (4.24, "4.2s"),
        (59.9, "59.9s"),
        (185, "3m 05s"),
        (3720, "1h 02m"),
        (2 * 86400 + 5 * 3600 + 59, "2d 05h"),
    ],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def _model(budget: object) -> MissionModel:
    model = MissionModel()
    model.config = {"budget": budget}
    return model


def test_caps_come_from_the_journaled_budget() -> None:
    caps = caps_of(_model({"max_tokens": 5000, "max_cost": 1.5, "max_wall_seconds": None}))
    assert caps == Caps(tokens=5000, cost=1.5, wall_seconds=None)


@pytest.mark.parametrize("budget", [None, "cheap", {"max_tokens": True, "max_cost": -1}])
def test_a_cap_that_is_not_a_positive_number_is_no_cap(budget: object) -> None:
    assert caps_of(_model(budget)) == Caps()
