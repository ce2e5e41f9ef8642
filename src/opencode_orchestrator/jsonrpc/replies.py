"""Turning handler outcomes into reply lines, and inline (synchronous) handlers.

A synchronous request handler is a plain function: the dispatcher calls it
where the connection is read (the read task, or the event loop's read callback)
as soon as the request is parsed, with no worker hand-off, cancel scope or
checkpoint, and writes its reply with the other replies of the same read.
That is the cheapest way to answer, and it is only fair for handlers that are
quick and never block: while one runs, nothing else on the connection moves.
Anything that awaits or does I/O must be ``async`` (and then runs concurrently
on the worker pool).

Outcomes map the same way for both kinds of handler: the return value is the
result, :class:`RpcError` answers with its error object, any other exception
is logged with its traceback and answered with a generic ``-32603``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from opencode_orchestrator.jsonrpc import messages as wire
from opencode_orchestrator.jsonrpc.errors import ErrorCode, RpcError
from opencode_orchestrator.jsonrpc.writer import LineWriter
from opencode_orchestrator.log import get_logger

__all__ = [
    "CANCELLED_ERROR",
    "INTERNAL_ERROR",
    "BatchReply",
    "SyncRequestHandler",
    "encode_reply",
    "failure_response",
    "run_sync_handler",
]

INTERNAL_ERROR: Final = {"code": ErrorCode.INTERNAL_ERROR, "message": "internal error"}
CANCELLED_ERROR: Final = {"code": ErrorCode.REQUEST_CANCELLED, "message": "request cancelled"}

SyncRequestHandler: TypeAlias = Callable[[wire.Params], Any]

_log = get_logger(__name__)


def encode_reply(message: dict[str, Any]) -> bytes:
    """Encode a response; a result JSON cannot represent becomes an internal error."""
    try:
        return wire.encode(message)
    except TypeError:
        _log.exception("result is not JSON-serialisable", id=message.get("id"))
        return wire.encode(wire.error_response(message.get("id"), INTERNAL_ERROR))


def failure_response(request_id: wire.RequestId, method: str) -> dict[str, Any]:
    """The response to a handler that raised; call it from the ``except`` block.

    :class:`RpcError` answers with its error object; anything else is logged with
    its traceback (hence the ``except`` block) and answered with ``-32603``.
    """
    exc = sys.exc_info()[1]
    if isinstance(exc, RpcError):
        return wire.error_response(request_id, exc.to_error_object())
    _log.exception("request handler failed", method=method, id=request_id)
    return wire.error_response(request_id, INTERNAL_ERROR)


def run_sync_handler(handler: SyncRequestHandler, request: wire.Request) -> dict[str, Any]:
    """Call a synchronous handler and return its response (never raises an Exception)."""
    try:
        result = handler(request.params)
    except Exception:  # noqa: BLE001 - a handler bug must answer, not kill the server
        return failure_response(request.id, request.method)
    return wire.result_response(request.id, result)


class BatchReply:
    """Collects the replies of one batch and sends them as one array."""

    def __init__(self, writer: LineWriter, expected: int) -> None:
        self._writer = writer
        self._expected = expected
        self._parts: list[bytes] = []

    async def add(self, message: dict[str, Any]) -> None:
        """Add one reply; the array leaves once every expected reply is in."""
        self._parts.append(encode_reply(message)[:-1])
        if len(self._parts) == self._expected:
            await self._writer.send(b"[" + b",".join(self._parts) + b"]\n")
