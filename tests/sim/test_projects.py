from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from opencode_orchestrator.sim.engine.projects import GLOBAL_PROJECT, ProjectIds
from tests.sim.conftest import git_init

pytestmark = pytest.mark.anyio


async def test_concurrent_lookups_share_one_git_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git_init(tmp_path)
    calls = 0
    run_process = anyio.run_process

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await run_process(*args, **kwargs)

    monkeypatch.setattr(anyio, "run_process", counting)
    ids = ProjectIds()
    found: list[str] = []

    async def lookup() -> None:
        found.append(await ids.lookup(str(tmp_path)))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(lookup)
    assert calls == 1
    assert len(set(found)) == 1
    assert found[0] != GLOBAL_PROJECT
    assert ids.known(str(tmp_path)) == found[0]


async def test_a_directory_outside_git_is_global(tmp_path: Path) -> None:
    assert await ProjectIds().lookup(str(tmp_path)) == GLOBAL_PROJECT
