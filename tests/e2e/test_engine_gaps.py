"""Engine behaviour against real OpenCode that is known to be wrong (strict xfail).

Each test states what should happen; it fails today and XPASSes (failing the
run, ``xfail_strict``) once the engine is fixed, so the marker must then go.
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


@pytest.mark.xfail(
    strict=True,
    reason="the engine never answers OpenCode's permission requests: a worker's bash command "
    "that reads outside the project (OpenCode asks `external_directory`) blocks its session "
    "until timeouts.unit (30 min) aborts the attempt",
)
async def test_a_permission_request_does_not_stall_the_mission(tmp_path: Path) -> None:
    # A worker looks at the system before working, as real models do.
    scenario = with_unit(single(), "only", explore=["cat /etc/os-release"])
    async with scenario_world(tmp_path / "project", scenario) as world:
        player = world.player
        result: list[CliRun] = []
        stalled: list[tuple[object, object]] | None = None

        async def run() -> None:
            result.append(await run_mission_cli(world))

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            with anyio.fail_after(RUN_DEADLINE):
                await player.wait_until(lambda: bool(player.played(Role.WORKER)))
            worker = player.played(Role.WORKER)[0]
            try:
                # The bash call's result (allowed or refused) must reach the model.
                with anyio.fail_after(ANSWER_DEADLINE):
                    await player.wait_until(lambda: bool(worker.results))
            except TimeoutError:
                pending = await pending_permissions(world)
                stalled = [(p.get("permission"), p.get("patterns")) for p in pending]
                tg.cancel_scope.cancel()  # stops the CLI: the mission would wait 30 min
            else:
                with anyio.fail_after(RUN_DEADLINE):
                    await player.wait_until(lambda: bool(result))
        if stalled is not None:
            pytest.fail(f"the worker's session waits on permission request(s) {stalled}")
        assert result[0].document.get("state") == "sealed", result[0].explain()
