"""``/__sim/...``: the control API tests use to steer faults. Not part of OpenCode."""

from __future__ import annotations

from typing import Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opencode_orchestrator.sim.config import SimConfig
from opencode_orchestrator.sim.errors import SimConfigError
from opencode_orchestrator.sim.http.context import context_of
from opencode_orchestrator.sim.http.responses import JsonResponse

__all__ = ["CONTROL_PREFIX", "control_routes"]

CONTROL_PREFIX: Final = "/__sim"


def _error(message: str) -> Response:
    return JsonResponse({"error": {"code": SimConfigError.code, "message": message}}, 400)


async def get_faults(request: Request) -> Response:
    """``GET /__sim/faults``: the faults in force."""
    return JsonResponse(context_of(request).faults.faults.model_dump(mode="json"))


async def set_faults(request: Request) -> Response:
    """``POST /__sim/faults``: replace the named fault fields; a storm in the body starts now."""
    try:
        update = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        return _error(f"body is not JSON: {exc}")
    if not isinstance(update, dict):
        return _error("body must be a JSON object")
    faults = context_of(request).faults
    try:
        merged = SimConfig(faults=faults.faults).with_faults(update).faults
    except SimConfigError as exc:
        return _error(str(exc))
    faults.update(merged)
    return JsonResponse(merged.model_dump(mode="json"))


async def drop_streams(request: Request) -> Response:
    """``POST /__sim/drop-streams``: end every open event stream now."""
    return JsonResponse({"dropped": context_of(request).bus.drop_all()})


async def stats(request: Request) -> Response:
    """``GET /__sim/stats``: counts for tests and benchmarks."""
    ctx = context_of(request)
    return JsonResponse(
        {
            "sessions": len(ctx.hub.sessions),
            "busy": sum(1 for sid in ctx.hub.sessions if ctx.hub.is_busy(sid)),
            "streams": len(ctx.bus),
        }
    )


def control_routes() -> list[Route]:
    """The routes."""
    return [
        Route(f"{CONTROL_PREFIX}/faults", get_faults, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/faults", set_faults, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/drop-streams", drop_streams, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/stats", stats, methods=["GET"]),
    ]
