"""mission/start and mission/resume under the project's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencode_orchestrator.core.errors import CoreErrorCode
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.wal.log import Durability
from tests.config.support import write
from tests.core.missions.harness import core_session, disk_model
from tests.mission.enginesupport import GOAL, simulated

pytestmark = pytest.mark.anyio


async def test_a_mission_started_without_settings_runs_under_the_projects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    durabilities: list[tuple[object, object]] = []
    original = MissionEngine.create

    def spy(*args: object, **kwargs: object) -> object:
        durabilities.append((kwargs["durability"], kwargs["sync_interval"]))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(MissionEngine, "create", spy)
    async with simulated(tmp_path) as sim:
        (sim.project / ".opencode").mkdir(exist_ok=True)
        write(
            sim.project / ".opencode" / "orchestrator.jsonc",
            '{"limits": {"concurrency": 3}, "checks": ["true"],'
            ' "wal": {"fsync": "interval", "sync_interval": 0.5}}',
        )
        async with core_session(sim) as shim:
            mid = (await shim.call("mission/start", {"goal": GOAL}))["missionId"]
            await shim.wait_state(mid, "SEALED")
            config = disk_model(sim.project, mid).config
            assert config["limits"]["concurrency"] == 3
            assert config["checks"] == ["true"]
            assert "wal" not in config

            # Settings in the call replace the project's mission settings.
            own = {"limits": {"concurrency": 5}}
            mid = (await shim.call("mission/start", {"goal": GOAL, "config": own}))["missionId"]
            await shim.wait_state(mid, "SEALED")
            assert disk_model(sim.project, mid).config["limits"]["concurrency"] == 5
    assert durabilities == [(Durability.INTERVAL, 0.5), (Durability.INTERVAL, 0.5)]


async def test_an_invalid_configuration_refuses_the_start_with_its_problems(
    tmp_path: Path,
) -> None:
    async with simulated(tmp_path) as sim, core_session(sim) as shim:
        (sim.project / ".opencode").mkdir(exist_ok=True)
        path = write(sim.project / ".opencode" / "orchestrator.json", {"limits": {"concurency": 3}})
        error = await shim.refused("mission/start", {"goal": GOAL})
        problem = f"{path}:1:13: unknown key limits.concurency (did you mean limits.concurrency?)"
        assert error.code == CoreErrorCode.CONFIG_INVALID
        assert error.message == f"invalid configuration: {problem}"
        assert error.data == {"problems": [problem], "configCode": "config.invalid"}

        write(path, "{")
        error = await shim.refused("mission/start", {"goal": GOAL})
        assert error.code == CoreErrorCode.CONFIG_INVALID
        assert error.data == {
            "problems": [f"{path}:1:2: not valid JSONC: '}}' expected"],
            "configCode": "config.file",
        }
        status = await shim.call("mission/status")
        assert status["missions"] == []
