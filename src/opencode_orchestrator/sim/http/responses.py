"""JSON responses and OpenCode's error bodies.

OpenCode 1.18.33 answers two families of 400 bodies, per route (its OpenAPI
document says which): the legacy ``BadRequestError`` (``{name: "BadRequest",
data: {message, kind}}``) and Effect's ``InvalidRequestError`` (``{_tag,
message, kind}``). A 404 is ``NotFoundError`` (``{name, data: {message}}``).
"""

from __future__ import annotations

import enum
from typing import Any

import orjson
from starlette.responses import Response

__all__ = [
    "BadRequestStyle",
    "JsonResponse",
    "bad_request",
    "no_content",
    "not_found",
    "session_busy",
]


class JsonResponse(Response):
    """A response with an orjson-encoded body."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content``."""
        return orjson.dumps(content)


class BadRequestStyle(enum.Enum):
    """Which 400 schema a route documents."""

    LEGACY = "BadRequestError"
    EFFECT = "InvalidRequestError"


def bad_request(message: str, style: BadRequestStyle, kind: str = "Body") -> JsonResponse:
    """A 400 in the shape the route documents."""
    if style is BadRequestStyle.LEGACY:
        body: dict[str, Any] = {"name": "BadRequest", "data": {"message": message, "kind": kind}}
    else:
        body = {"_tag": "InvalidRequestError", "message": message, "kind": kind}
    return JsonResponse(body, status_code=400)


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
