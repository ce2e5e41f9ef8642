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

__all__ = [
    "JsonResponse",
    "bad_request",
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


def no_content() -> Response:
    """A 204."""
    return Response(status_code=204)
