"""The ASGI gate in front of every route: basic auth, then the 429 storm.

Written as plain ASGI (not Starlette's ``BaseHTTPMiddleware``) so streaming
responses pass through untouched.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from opencode_orchestrator.sim.engine.faults import FaultInjector
from opencode_orchestrator.sim.http.control_routes import CONTROL_PREFIX

__all__ = ["AUTH_USER", "Gate"]

AUTH_USER = "opencode"


class Gate:
    """Refuse requests without the password (401) or caught in a 429 storm."""

    def __init__(self, app: ASGIApp, *, password: str | None, faults: FaultInjector) -> None:
        self._app = app
        self._password = password
        self._faults = faults

    def _authorised(self, scope: Scope) -> bool:
        if self._password is None:
            return True
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, given = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, AUTH_USER) and secrets.compare_digest(
            given, self._password
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if not self._authorised(scope):
            # Empty body, no content type: as OpenCode answers.
            response = Response(
                status_code=401, headers={"www-authenticate": 'Basic realm="Secure Area"'}
            )
            await response(scope, receive, send)
            return
        if not scope["path"].startswith(CONTROL_PREFIX):
            retry_after = self._faults.storm_retry_after()
            if retry_after is not None:
                response = PlainTextResponse(
                    "Too Many Requests", 429, headers={"retry-after": str(retry_after)}
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)
