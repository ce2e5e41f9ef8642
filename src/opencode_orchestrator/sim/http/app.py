"""The Starlette application: every route behind the gate."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from opencode_orchestrator.sim.http.context import SimContext
from opencode_orchestrator.sim.http.control_routes import control_routes
from opencode_orchestrator.sim.http.event_routes import event_routes
from opencode_orchestrator.sim.http.fast import FastRoutes
from opencode_orchestrator.sim.http.gate import Gate
from opencode_orchestrator.sim.http.misc_routes import misc_routes
from opencode_orchestrator.sim.http.responses import JsonResponse, not_found
from opencode_orchestrator.sim.http.session_routes import session_routes

__all__ = ["build_app"]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return not_found(f"Not found: {request.url.path}")
    return JsonResponse({"name": "UnknownError", "data": {"message": exc.detail}}, exc.status_code)


def build_app(ctx: SimContext, *, password: str | None, fast: bool = True) -> ASGIApp:
    """The simulator's ASGI app for one run of the server.

    ``fast=False`` sends every request through Starlette's routes, even the
    ones :class:`FastRoutes` answers (tests compare the two).
    """
    app = Starlette(
        # Starlette tries routes in order; the session routes (the busy ones) go first.
        routes=[*session_routes(), *misc_routes(), *event_routes(), *control_routes()],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.sim = ctx
    routed: ASGIApp = FastRoutes(app, ctx) if fast else app
    return Gate(routed, password=password, faults=ctx.faults)
