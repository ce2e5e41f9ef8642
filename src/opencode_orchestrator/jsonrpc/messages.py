"""JSON-RPC 2.0 wire messages: classify parsed JSON, encode outgoing messages.

The envelope is checked by hand rather than by a model library: it is on the
hot path of every message, and its rules are few. Parsing never raises; a line
that is not a valid message becomes an :class:`InvalidMessage` that says which
error object to answer with (or that nothing must be answered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import orjson

from opencode_orchestrator.jsonrpc.errors import ErrorCode

__all__ = [
    "JSONRPC_VERSION",
    "Batch",
    "ErrorObject",
    "Incoming",
    "InvalidMessage",
    "Message",
    "Notification",
    "Params",
    "Request",
    "RequestId",
    "Response",
    "classify",
    "encode",
    "error_response",
    "notification",
    "parse_line",
    "request",
    "result_response",
]

JSONRPC_VERSION: Final = "2.0"

RequestId: TypeAlias = int | str
Params: TypeAlias = dict[str, Any] | list[Any] | None


@dataclass(frozen=True, slots=True)
class ErrorObject:
    """The ``error`` member of an error response."""

    code: int
    message: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class Request:
    """A call that expects a response."""

    id: RequestId
    method: str
    params: Params


@dataclass(frozen=True, slots=True)
class Notification:
    """A call that expects no response."""

    method: str
    params: Params


@dataclass(frozen=True, slots=True)
class Response:
    """A response to one of our requests: ``error`` is set when it failed."""

    id: RequestId | None
    result: Any = None
    error: ErrorObject | None = None


@dataclass(frozen=True, slots=True)
class InvalidMessage:
    """Something that is not a valid message.

    ``reply`` is False when answering would be wrong (a malformed *response*:
    answering responses could make two peers bounce errors forever).
    """

    id: RequestId | None
    code: ErrorCode
    message: str
    reply: bool = True


Message: TypeAlias = Request | Notification | Response
Incoming: TypeAlias = Message | InvalidMessage
Batch: TypeAlias = list[Incoming]


def _is_id(value: object) -> bool:
    # bool is an int subclass, and fractional ids are forbidden: be exact.
    return type(value) is int or type(value) is str


def _classify(obj: object) -> Incoming:
    # Fast path for the common case, a well-formed call; anything unusual takes the
    # general path below, which decides exactly as it would without this shortcut.
    if type(obj) is dict:
        method = obj.get("method")
        params = obj.get("params")
        if (
            type(method) is str
            and (params is None or type(params) is dict or type(params) is list)
            and obj.get("jsonrpc") == JSONRPC_VERSION
        ):
            if "id" not in obj:
                return Notification(method, params)
            request_id = obj["id"]
            if type(request_id) is int or type(request_id) is str:
                return Request(request_id, method, params)
        elif (
            # The other common case, a success response to one of our calls.
            "result" in obj
            and "method" not in obj
            and "error" not in obj
            and (type(obj.get("id")) is int or type(obj.get("id")) is str)
            and obj.get("jsonrpc") == JSONRPC_VERSION
        ):
            return Response(obj["id"], obj["result"])
    return _classify_slowly(obj)


def _classify_slowly(obj: object) -> Incoming:
    if not isinstance(obj, dict):
        return InvalidMessage(None, ErrorCode.INVALID_REQUEST, "a message must be a JSON object")
    raw_id = obj.get("id")
    good_id: RequestId | None = raw_id if _is_id(raw_id) else None
    if obj.get("jsonrpc") != JSONRPC_VERSION:
        return InvalidMessage(good_id, ErrorCode.INVALID_REQUEST, 'jsonrpc must be "2.0"')
    if "method" in obj:
        return _classify_call(obj, good_id)
    if "result" in obj or "error" in obj:
        return _classify_response(obj, good_id)
    return InvalidMessage(
        good_id, ErrorCode.INVALID_REQUEST, "not a request, a notification or a response"
    )


def _classify_call(obj: dict[str, Any], good_id: RequestId | None) -> Incoming:
    method = obj["method"]
    if not isinstance(method, str):
        return InvalidMessage(good_id, ErrorCode.INVALID_REQUEST, "method must be a string")
    params = obj.get("params")
    if params is not None and not isinstance(params, dict | list):
        return InvalidMessage(
            good_id, ErrorCode.INVALID_REQUEST, "params must be an object or an array"
        )
    if "id" not in obj:
        return Notification(method, params)
    if good_id is None:
        return InvalidMessage(None, ErrorCode.INVALID_REQUEST, "id must be an integer or a string")
    return Request(good_id, method, params)


def _classify_response(obj: dict[str, Any], good_id: RequestId | None) -> Incoming:
    raw_id = obj.get("id")
    if "result" in obj and "error" in obj:
        return InvalidMessage(good_id, ErrorCode.INVALID_REQUEST, "both result and error", False)
    if "error" not in obj:
        if good_id is None:
            return InvalidMessage(None, ErrorCode.INVALID_REQUEST, "response without id", False)
        return Response(good_id, obj["result"])
    error = obj["error"]
    if (
        not isinstance(error, dict)
        or type(error.get("code")) is not int
        or not isinstance(error.get("message"), str)
        or (good_id is None and raw_id is not None)
    ):
        return InvalidMessage(good_id, ErrorCode.INVALID_REQUEST, "malformed error response", False)
    return Response(good_id, None, ErrorObject(error["code"], error["message"], error.get("data")))


def parse_line(line: bytes) -> Incoming | Batch:
    """Parse one NDJSON line into a message, a batch, or an :class:`InvalidMessage`.

    Never raises: invalid UTF-8, lone surrogates, NaN, excessive nesting and
    every syntax error become a ``-32700`` parse error with a null id.
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return InvalidMessage(None, ErrorCode.PARSE_ERROR, f"parse error: {exc.msg}")
    return classify(obj)


def classify(obj: object) -> Incoming | Batch:
    """Classify an already-parsed JSON value as :func:`parse_line` does after parsing."""
    if isinstance(obj, list):
        if not obj:
            return InvalidMessage(None, ErrorCode.INVALID_REQUEST, "empty batch")
        return [_classify(element) for element in obj]
    return _classify(obj)


def request(request_id: RequestId, method: str, params: Params) -> dict[str, Any]:
    """A request envelope (``params`` omitted when None)."""
    message: dict[str, Any] = {"jsonrpc": JSONRPC_VERSION, "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def notification(method: str, params: Params) -> dict[str, Any]:
    """A notification envelope (``params`` omitted when None)."""
    message: dict[str, Any] = {"jsonrpc": JSONRPC_VERSION, "method": method}
    if params is not None:
        message["params"] = params
    return message


def result_response(request_id: RequestId, result: Any) -> dict[str, Any]:
    """A success response envelope."""
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "result": result}


def error_response(request_id: RequestId | None, error: dict[str, Any]) -> dict[str, Any]:
    """An error response envelope; ``error`` is a ``{code, message[, data]}`` object."""
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "error": error}


def encode(message: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    """Serialise one message (or a batch) as one NDJSON line, newline included.

    Raises:
        TypeError: the message holds something JSON cannot represent.
    """
    return orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)
