"""The fast path for POST /session and prompt_async answers as Starlette's routes do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from opencode_orchestrator.sim.config import LatencyConfig, SimConfig
from opencode_orchestrator.sim.engine import EventBus, FaultInjector, SessionHub
from opencode_orchestrator.sim.http import SimContext, build_app
from opencode_orchestrator.sim.state import SimStore

pytestmark = pytest.mark.anyio

_VOLATILE = ("id", "slug", "time", "title", "ref")


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    store = await SimStore.open(tmp_path / "state")
    config = SimConfig(seed=1, latency=LatencyConfig(mean=0, jitter=0))
    try:
        async with anyio.create_task_group() as tg:
            bus, faults = EventBus(), FaultInjector(config)
            hub = SessionHub(store, bus, config, faults, tg)
            ctx = SimContext(
                hub=hub,
                bus=bus,
                faults=faults,
                default_directory=str(tmp_path),
                state_dir=tmp_path,
                heartbeat=10,
            )
            apps = (build_app(ctx, password=None), build_app(ctx, password=None, fast=False))
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(apps[0]), base_url="http://s") as a,
                httpx.AsyncClient(transport=httpx.ASGITransport(apps[1]), base_url="http://s") as b,
            ):
                yield a, b
            tg.cancel_scope.cancel()
    finally:
        await store.close()


def _shape(response: httpx.Response) -> tuple[Any, ...]:
    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "*" if k in _VOLATILE else scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    body = scrub(response.json()) if response.content else None
    # Ids, slugs and times vary in length: the length header is checked, not compared.
    headers = list(response.headers.items())
    if "content-length" in response.headers:
        assert int(response.headers["content-length"]) == len(response.content)
        headers = [(k, "*" if k == "content-length" else v) for k, v in headers]
    return response.status_code, headers, body


@pytest.mark.parametrize(
    ("path", "content", "headers"),
    [
        ("/session", b"", {}),
        ("/session", b"{}", {}),
        ("/session", b'{"title": "t", "metadata": {"a": 1}}', {}),
        ("/session", b"{not json", {}),
        ("/session", b'{"parentID": "nope"}', {}),
        ("/session", b'{"parentID": "ses_unknown"}', {}),
        ("/session", b'{"surprise": 1}', {}),
        ("/session?directory=/q&directory=/last", b"{}", {"x-opencode-directory": "%2Fh"}),
        ("/session?directory=", b"{}", {"x-opencode-directory": "%2Fheader%20dir"}),
        ("/session/ses_unknown/prompt_async", b'{"parts": []}', {}),
        ("/session/abc/prompt_async", b'{"parts": []}', {}),
        ("/session//prompt_async", b'{"parts": []}', {}),
        ("/session/a/b/prompt_async", b'{"parts": []}', {}),
    ],
)
async def test_fast_and_routed_answers_are_the_same(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    path: str,
    content: bytes,
    headers: dict[str, str],
) -> None:
    fast, routed = clients
    answers = [await c.post(path, content=content, headers=headers) for c in (fast, routed)]
    assert _shape(answers[0]) == _shape(answers[1])


@pytest.mark.parametrize(
    "content",
    [
        b'{"parts": [{"type": "text", "text": "hi"}], "agent": "build"}',
        b'{"parts": [{"type": "text", "text": "hi"}], "noReply": true}',
        b'{"parts": "no"}',
        b"[]",
        b"",
    ],
)
async def test_prompt_async_answers_are_the_same(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], content: bytes
) -> None:
    fast, routed = clients
    answers = []
    for client in (fast, routed):
        sid = (await client.post("/session", json={})).json()["id"]
        answers.append(await client.post(f"/session/{sid}/prompt_async", content=content))
    assert _shape(answers[0]) == _shape(answers[1])
