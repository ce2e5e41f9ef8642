"""One fake LLM and one real ``opencode serve`` per module: start-up costs ~2 s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from opencode_orchestrator import runtime
from opencode_orchestrator.testing.fake_llm import FakeLLM
from opencode_orchestrator.testing.real_opencode import RealOpenCode


@pytest.fixture(scope="module")
def anyio_backend() -> tuple[str, dict[str, Any]]:
    # Module scope, so the module-scoped server fixture can use it.
    return runtime.BACKEND, runtime.backend_options()


@pytest.fixture(scope="module")
async def fake_llm(anyio_backend: object) -> AsyncIterator[FakeLLM]:
    async with FakeLLM.running(retry_after=0.2) as llm:
        yield llm


@pytest.fixture(scope="module")
async def opencode(
    fake_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RealOpenCode]:
    project: Path = tmp_path_factory.mktemp("project")
    async with RealOpenCode.start(project, fake_llm.base_url) as server:
        yield server
