"""End-to-end scenarios: a real ``opencode serve``, the scenario fake LLM, whole missions.

Every test builds its own world (:func:`~opencode_orchestrator.testing.mission_e2e.scenario_world`):
scenarios differ, and a mission leaves its project changed. See README.md.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Registered here, not in pyproject.toml: `-m e2e` picks these (or `-m "not e2e"` skips them).
    config.addinivalue_line(
        "markers", "e2e: a whole mission through a real `opencode serve` and the scenario fake LLM"
    )
