"""Admission of incoming requests, and the fast path of the common one.

Almost every message a server reads is a single well-formed request to a
synchronous (inline) handler: ``echo``, a status query. :meth:`FastPath.answer`
takes such a line from its bytes to the bytes of its reply without building
any intermediate object (no :class:`~.messages.Request`, no response dict
handed around, no second pass over the message). Anything else it returns
classified, exactly as :func:`~.messages.parse_line` would, for the general
path of the dispatcher: batches, notifications, responses, invalid messages,
requests to async handlers, and requests a check may refuse (a duplicate id).

The fast path decides nothing the general path would decide differently: it
checks the same envelope rules, runs the same admission checks in the same
order (:meth:`FastPath.refusal`), maps handler outcomes the same way
(:func:`~.replies.failure_response`) and encodes the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeAlias

import orjson

from opencode_orchestrator.jsonrpc import messages as wire
from opencode_orchestrator.jsonrpc.errors import ErrorCode, RpcError
from opencode_orchestrator.jsonrpc.replies import SyncRequestHandler, encode_reply, failure_response

__all__ = ["FastPath", "RequestGuard"]

RequestGuard: TypeAlias = Callable[[str], None]

_SHUTTING_DOWN: Final = {"code": ErrorCode.SHUTTING_DOWN, "message": "shutting down"}
_NOT_FOUND: Final = {"code": ErrorCode.METHOD_NOT_FOUND, "message": "method not found"}
_DUPLICATE: Final = {"code": ErrorCode.INVALID_REQUEST, "message": "duplicate request id"}

# Bound once: module attribute lookups on every message add up at this rate.
_loads = orjson.loads
_dumps = orjson.dumps
_JSONDecodeError = orjson.JSONDecodeError
_NEWLINE: Final = orjson.OPT_APPEND_NEWLINE
_VERSION: Final = wire.JSONRPC_VERSION


class FastPath:
    """Decides whether incoming requests are admitted, and answers the common one inline.

    The dispatcher shares its handler tables and its table of running requests
    with this object, and keeps :attr:`accepting` true exactly while it runs.
    """

    __slots__ = ("_request_handlers", "_running", "_sync_handlers", "accepting", "guard")

    def __init__(
        self,
        request_handlers: dict[str, Any],
        sync_handlers: dict[str, SyncRequestHandler],
        running: dict[wire.RequestId, Any],
    ) -> None:
        self._request_handlers = request_handlers
        self._sync_handlers = sync_handlers
        self._running = running
        self.accepting = False
        self.guard: RequestGuard | None = None

    def refusal(self, request_id: wire.RequestId, method: str) -> dict[str, Any] | None:
        """The error object refusing this request, or None to admit it."""
        if not self.accepting:
            return _SHUTTING_DOWN
        if self.guard is not None:
            try:
                self.guard(method)
            except RpcError as exc:
                return exc.to_error_object()
        if method not in self._request_handlers and method not in self._sync_handlers:
            return _NOT_FOUND
        if request_id in self._running:
            return _DUPLICATE
        return None

    def answer(self, line: bytes) -> bytes | wire.Incoming | wire.Batch:
        """The encoded reply of a well-formed inline request; anything else, classified."""
        try:
            obj = _loads(line)
        except _JSONDecodeError:
            return wire.parse_line(line)  # the parse error, worded as everywhere else
        if type(obj) is not dict:
            return wire.classify(obj)
        method: Any = obj.get("method")
        # The type check comes first: a list as method name is not even hashable.
        handler = self._sync_handlers.get(method) if type(method) is str else None
        request_id = obj.get("id")
        params = obj.get("params")
        if (
            handler is None
            or not (type(request_id) is int or type(request_id) is str)
            or not (params is None or type(params) is dict or type(params) is list)
            or obj.get("jsonrpc") != _VERSION
            # Refusals the guard does not give go the general way (rare, and ordered there).
            or not self.accepting
            or request_id in self._running
        ):
            return wire.classify(obj)
        guard = self.guard
        if guard is not None:
            try:
                guard(method)
            except RpcError as exc:
                return encode_reply(wire.error_response(request_id, exc.to_error_object()))
        try:
            result = handler(params)
        except Exception:  # noqa: BLE001 - answered as the general path answers it
            return encode_reply(failure_response(request_id, method))
        try:
            return _dumps(
                {"jsonrpc": _VERSION, "id": request_id, "result": result}, option=_NEWLINE
            )
        except TypeError:
            # Not JSON-serialisable: the general encoder logs it and answers -32603.
            return encode_reply(wire.result_response(request_id, result))
