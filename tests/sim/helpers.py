"""Helpers for the simulator tests: an event recorder over SSE, prompts with directives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import orjson
from anyio.abc import TaskStatus

from opencode_orchestrator.testing.script import ScriptDirective, render_directive


def text_prompt(text: str, **body: Any) -> dict[str, Any]:
    return {"parts": [{"type": "text", "text": text}], **body}


def scripted(text: str = "Do it.", **directive: Any) -> dict[str, Any]:
    line = render_directive(ScriptDirective.model_validate(directive))
    return text_prompt(f"{text}\n{line}")


class EventLog:
    """Every event of one SSE stream, with a way to wait for one."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.ended = anyio.Event()
        self._changed = anyio.Event()

    def add(self, document: dict[str, Any]) -> None:
        self.events.append(document)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while True:
                for item in self.events:
                    if predicate(item):
                        return item
                await self._changed.wait()

    def types(self, session_id: str | None = None) -> list[str]:
        return [
            e["type"]
            for e in self.events
            if session_id is None or e["properties"].get("sessionID") == session_id
        ]


async def _read(
    client: httpx.AsyncClient, path: str, log: EventLog, *, task_status: TaskStatus[None]
) -> None:
    try:
        async with client.stream("GET", path, timeout=None) as response:
            assert response.status_code == 200
            started = False
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    log.add(orjson.loads(line[6:]))
                    if not started:
                        started = True
                        task_status.started()
    except httpx.HTTPError:
        pass
    finally:
        log.ended.set()


@asynccontextmanager
async def events(client: httpx.AsyncClient, path: str = "/event") -> AsyncIterator[EventLog]:
    log = EventLog()
    async with anyio.create_task_group() as tg:
        await tg.start(_read, client, path, log)
        yield log
        tg.cancel_scope.cancel()
