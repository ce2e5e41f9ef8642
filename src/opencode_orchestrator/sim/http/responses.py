"""JSON responses and OpenCode's error bodies.

As recorded from OpenCode 1.18.33 (``tests/contract/samples/error_responses.json``):
a body that fails its schema is a 400 ``BadRequestError`` with ``kind: "Payload"``;
a body that is not JSON, or a session id without its ``ses`` prefix, is a 500
``UnknownError`` with a ``ref``; an unknown session is a 404 ``NotFoundError``.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = [
    "JsonResponse",
    "bad_request",
    "cut_connection",
    "no_content",
    "not_found",
    "session_busy",
    "unexpected_error",
]


class JsonResponse(Response):
    """A response with an orjson-encoded body."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content``."""
        return orjson.dumps(content)


def bad_request(message: str, kind: str = "Payload") -> JsonResponse:
    """A 400 ``BadRequestError``, as OpenCode 1.18.33 answers an invalid body."""
    body = {"name": "BadRequest", "data": {"message": message, "kind": kind}}
    return JsonResponse(body, status_code=400)


def unexpected_error() -> JsonResponse:
    """The 500 OpenCode answers a body that is not JSON or an id without its prefix."""
    ref = "err_" + secrets.token_hex(4)
    message = "Unexpected server error. Check server logs for details."
    return JsonResponse(
        {"name": "UnknownError", "data": {"message": message, "ref": ref}}, status_code=500
    )


def not_found(message: str) -> JsonResponse:
    """A 404 ``NotFoundError``."""
    return JsonResponse({"name": "NotFoundError", "data": {"message": message}}, status_code=404)


def session_busy(session_id: str) -> JsonResponse:
    """A 409 ``SessionBusyError``."""
    return JsonResponse(
        {
            "_tag": "SessionBusyError",
            "sessionID": session_id,
            "message": f"Session {session_id} is busy",
        },
        status_code=409,
    )


class _CutConnection(Response):
    """Starts a response, then breaks the connection mid-body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # uvicorn closes the transport when the app fails after the response
        # started; the client sees the body cut short, as from a killed server.
        raise ConnectionAbortedError("the simulator stopped under this turn")


def cut_connection() -> Response:
    """What a blocking caller gets when the server dies under its turn: a broken connection."""
    return _CutConnection()


def no_content() -> Response:
    """A 204."""
    return Response(status_code=204)
