"""A mission's settings: what they refuse, and that their journaled form stays readable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opencode_orchestrator.mission.config import MissionConfig, ModelsConfig


@pytest.mark.parametrize(
    "journaled",
    [
        {},  # a journal from before any model was configured
        {"worker": "anthropic/claude-sonnet-4"},
        {
            "planner": "anthropic/claude-sonnet-4",
            "worker": "openai/gpt-4.1",
            "reviewer": "openrouter/meta/llama-4",  # the model id may hold slashes
            "master": "anthropic/claude-opus-4",
        },
    ],
)
def test_a_journaled_models_object_validates_and_dumps_back_the_same(
    journaled: dict[str, str],
) -> None:
    # The first WAL record keeps config.model_dump(mode="json"); resume validates it.
    config = MissionConfig.model_validate({"models": journaled})
    assert config.model_dump(mode="json")["models"] == journaled
    assert MissionConfig.model_validate(config.model_dump(mode="json")) == config


def test_an_unset_role_is_left_out_of_the_dump() -> None:
    assert MissionConfig().model_dump(mode="json")["models"] == {}
    assert ModelsConfig(master="a/b").model_dump(mode="json") == {"master": "a/b"}


@pytest.mark.parametrize(
    "models",
    [
        {"plannr": "anthropic/claude-sonnet-4"},  # no such role
        {"worker": "gpt-4.1"},  # no provider
        {"worker": "anthropic/"},  # no model
        {"worker": "/gpt-4.1"},
        {"worker": "anthropic/claude sonnet"},
    ],
)
def test_a_role_or_model_name_opencode_would_not_know_is_refused(
    models: dict[str, str],
) -> None:
    with pytest.raises(ValidationError):
        MissionConfig.model_validate({"models": models})


def test_of_gives_a_roles_model_and_none_for_an_unset_or_unknown_role() -> None:
    models = ModelsConfig(worker="openai/gpt-4.1")
    assert models.of("worker") == "openai/gpt-4.1"
    assert models.of("planner") is None
    assert models.of("of") is None  # a method, not a role


@pytest.mark.parametrize("limit", [0, -1, 501])
def test_a_per_model_limit_outside_1_to_500_is_refused(limit: int) -> None:
    # 0 would never admit a turn of that provider: the mission would wait forever.
    with pytest.raises(ValidationError):
        MissionConfig.model_validate({"limits": {"per_model": {"anthropic": limit}}})
    config = MissionConfig.model_validate({"limits": {"per_model": {"anthropic": 500, "a/b": 1}}})
    assert config.limits.per_model == {"anthropic": 500, "a/b": 1}
