"""What the mission's context looks up for its turns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.context import MissionContext


def _context(config: MissionConfig) -> MissionContext:
    unused: Any = None  # model_for reads the config only
    return MissionContext(
        project=Path("."),
        config=config,
        journal=unused,
        client=unused,
        router=unused,
        pool=unused,
        budget=unused,
    )


def test_each_role_runs_on_its_configured_model_even_after_the_config_is_replaced() -> None:
    ctx = _context(MissionConfig.model_validate({"models": {"worker": "anthropic/claude-x/1"}}))
    worker = ctx.model_for("worker")
    assert worker is not None
    assert (worker.provider_id, worker.model_id) == ("anthropic", "claude-x/1")
    assert ctx.model_for("worker") is worker  # built once
    assert ctx.model_for("reviewer") is None
    assert ctx.provider_for("worker") == "anthropic"
    assert ctx.provider_for("nobody") is None
    ctx.config = MissionConfig.model_validate({"models": {"reviewer": "openai/gpt-4.1"}})
    assert ctx.model_for("worker") is None
    assert ctx.provider_for("reviewer") == "openai"
