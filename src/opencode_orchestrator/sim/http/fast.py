"""The two requests a mission makes most, answered without Starlette's routing.

``POST /session`` and ``POST /session/{id}/prompt_async`` are nearly every
request of a mission. Through Starlette each went through two middlewares,
the router, a ``Request`` (whose headers and query are parsed into
objects) and wrappers around every ``send``: about as much CPU as the
simulator's own work for the request. Here they are matched on the path and
answered by the same functions the routes use, with the same answers; an
unexpected error is answered 500 and raised, as Starlette's
``ServerErrorMiddleware`` does. Everything else goes to Starlette.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from opencode_orchestrator.sim.http.context import SimContext, directory_in
from opencode_orchestrator.sim.http.session_routes import (
    create_in,
    find_session,
    prompt_async_in,
)

__all__ = ["FastRoutes"]

_SESSION: Final = "/session"
_PREFIX: Final = "/session/"
_PROMPT_ASYNC: Final = "/prompt_async"


async def _body(receive: Receive) -> bytes:
    """The request body, read as Starlette's ``Request.body`` reads it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect


class FastRoutes:
    """Answer ``POST /session`` and ``prompt_async`` directly; pass the rest to ``app``."""

    def __init__(self, app: ASGIApp, ctx: SimContext) -> None:
        self._app = app
        self._ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path == _SESSION:
                await self._answer(self._create, scope, receive, send)
                return
            if path.startswith(_PREFIX) and path.endswith(_PROMPT_ASYNC):
                # The route's `{sessionID}`: one path segment, not empty.
                sid = path[len(_PREFIX) : -len(_PROMPT_ASYNC)]
                if sid and "/" not in sid:
                    scope["path_params"] = {"sessionID": sid}
                    await self._answer(self._prompt_async, scope, receive, send)
                    return
        await self._app(scope, receive, send)

    async def _create(self, scope: Scope, receive: Receive) -> Response:
        directory = directory_in(scope, self._ctx.default_directory)
        return await create_in(self._ctx, directory, await _body(receive))

    async def _prompt_async(self, scope: Scope, receive: Receive) -> Response:
        found = find_session(self._ctx, scope["path_params"]["sessionID"])
        if isinstance(found, Response):
            return found  # the body is not read, as the route does not read it
        return await prompt_async_in(self._ctx, found, await _body(receive))

    @staticmethod
    async def _answer(
        handler: Callable[[Scope, Receive], Awaitable[Response]],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        try:
            response = await handler(scope, receive)
        except Exception:
            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise
        await response(scope, receive, send)
