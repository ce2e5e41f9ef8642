"""A mission's own log file, for as long as the mission is open in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import structlog

from opencode_orchestrator.log.pipeline import attach_mission, detach_mission
from opencode_orchestrator.log.routing import MISSION_KEY
from opencode_orchestrator.log.settings import LogSettings

__all__ = ["mission_log"]


@asynccontextmanager
async def mission_log(
    mission_id: str, path: Path, settings: LogSettings | None = None
) -> AsyncIterator[None]:
    """Bind ``mission_id`` to every record made inside, and write them to ``path`` too.

    The binding is a structlog context variable, so tasks started inside
    (anyio copies the context at spawn) carry it, and several missions in one
    process each keep their own file. ``path`` is appended to (a resumed
    mission continues its story) and rotated per ``settings`` (default: the
    ``log`` section's defaults). On exit the
    file is closed once every record queued for it is written. Without
    configured logging this only binds the id.
    """
    attached = attach_mission(mission_id, path, settings)
    try:
        with structlog.contextvars.bound_contextvars(**{MISSION_KEY: mission_id}):
            yield
    finally:
        if attached:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(detach_mission, mission_id)
