"""``GET /event`` and ``GET /global/event``: server-sent events.

Each stream opens with ``server.connected`` and sends ``server.heartbeat``
after every quiet ``heartbeat`` seconds. Lines are ``data: {json}`` followed
by a blank line, as OpenCode writes them. A stream may be cut on purpose
(``stream_drop_rate``, ``POST /__sim/drop-streams``): it then simply ends, as
a dropped connection looks to a reader.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from opencode_orchestrator.sim.engine.bus import StreamKind, event, frame
from opencode_orchestrator.sim.http.context import SimContext, context_of, directory_of

__all__ = ["event_routes"]

_HEADERS: Final = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _server_event(kind: StreamKind, name: str) -> bytes:
    envelope = event(name, {})
    if kind is StreamKind.GLOBAL:
        return frame(orjson.dumps({"payload": envelope}))
    return frame(orjson.dumps(envelope))


async def _frames(ctx: SimContext, kind: StreamKind, directory: str) -> AsyncIterator[bytes]:
    sub = ctx.bus.subscribe(kind, directory)
    try:
        yield _server_event(kind, "server.connected")
        while True:
            frames = await sub.take(ctx.heartbeat)
            if frames is None:
                return
            if not frames:
                yield _server_event(kind, "server.heartbeat")
                continue
            cut = ctx.faults.stream_cut(len(frames))
            if cut is not None:
                # The stream ends instead of writing that event, after the ones before it.
                if cut:
                    yield b"".join(frames[:cut])
                return
            yield b"".join(frames)
    finally:
        ctx.bus.unsubscribe(sub)


def _stream(request: Request, kind: StreamKind) -> Response:
    ctx = context_of(request)
    return StreamingResponse(
        _frames(ctx, kind, directory_of(request)),
        media_type="text/event-stream",
        headers=_HEADERS,
    )


async def project_events(request: Request) -> Response:
    """``GET /event``: the addressed project's events."""
    return _stream(request, StreamKind.PROJECT)


async def global_events(request: Request) -> Response:
    """``GET /global/event``: every project's events as ``{directory, payload}``."""
    return _stream(request, StreamKind.GLOBAL)


def event_routes() -> list[Route]:
    """The routes."""
    return [
        Route("/event", project_events, methods=["GET"]),
        Route("/global/event", global_events, methods=["GET"]),
    ]
