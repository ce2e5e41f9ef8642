"""Engine behaviour against real OpenCode that used to be wrong, kept as regression tests.

A permission request in a mission session (OpenCode asks ``external_directory``
when a worker's bash command reads outside the project) used to hold the
session busy until ``timeouts.unit`` (30 min): the engine never answered it.
The engine now answers by the mission's ``permissions`` policy (default: reject,
with a message the model reads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import anyio
import pytest

from opencode_orchestrator.testing.mission_e2e import (
    CliRun,
    pending_permissions,
    run_mission_cli,
    scenario_world,
)
from opencode_orchestrator.testing.scenario_roles import Role
from tests.e2e.helpers import RUN_DEADLINE
from tests.e2e.scenarios import single, with_unit

pytestmark = [pytest.mark.anyio, pytest.mark.real_opencode, pytest.mark.e2e]

ANSWER_DEADLINE: Final = 15.0
"""How long a permission request may wait for the orchestrator's answer."""


async def test_a_permission_request_does_not_stall_the_mission(tmp_path: Path) -> None:
    # A worker looks at the system before working, as real models do.
    scenario = with_unit(single(), "only", explore=["cat /etc/os-release"])
    async with scenario_world(tmp_path / "project", scenario) as world:
        player = world.player
        result: list[CliRun] = []
        stalled: list[tuple[object, object]] | None = None

        async def run() -> None:
            result.append(await run_mission_cli(world))

        with anyio.fail_after(RUN_DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                await player.wait_until(lambda: bool(player.played(Role.WORKER)))

                def answered() -> bool:
                    # The bash call's result (allowed or refused) reached the model.
                    return any(turn.results for turn in player.played(Role.WORKER))

                try:
                    with anyio.fail_after(ANSWER_DEADLINE):
                        await player.wait_until(answered)
                except TimeoutError:
                    pending = await pending_permissions(world)
                    stalled = [(p.get("permission"), p.get("patterns")) for p in pending]
                    tg.cancel_scope.cancel()  # stops the CLI: the mission would wait 30 min
            # The task group has waited for the CLI to end.
        if stalled is not None:
            pytest.fail(f"the worker's session waits on permission request(s) {stalled}")
    assert result[0].document.get("state") == "sealed", result[0].explain()
    worker = player.played(Role.WORKER)[0]
    refusal = worker.results[0]
    assert "unattended orchestrator mission session" in refusal, refusal
    assert "external_directory" in refusal
