from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from opencode_orchestrator.sim import SimConfig, SimServer


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    return directory


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(seed=7)


@pytest.fixture
async def sim(tmp_path: Path, project: Path, sim_config: SimConfig) -> AsyncIterator[SimServer]:
    async with SimServer.running(
        tmp_path / "state", config=sim_config, directory=str(project)
    ) as server:
        yield server


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as http:
        yield http


def git_init(directory: Path) -> None:
    subprocess.run(["git", "init", "-q", str(directory)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(directory),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "root",
        ],
        check=True,
    )
