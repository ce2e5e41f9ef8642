"""Errors of the JSON-RPC layers and the codes they put on the wire.

Tree (every class is an :class:`~opencode_orchestrator.errors.OrchestratorError`)::

    OrchestratorError
    └── JsonRpcError                 root of this package
        ├── RpcError                 raise in a handler: sent to the peer as an error object
        ├── RemoteError              the peer answered one of our calls with an error object
        ├── RequestTimeoutError      our call got no answer in time ($/cancelRequest was sent)
        ├── ConnectionClosedError    the connection ended before or while we used it
        ├── InvalidResultError       the peer's result did not match the expected type
        └── EndpointStateError       misuse of the lifecycle (e.g. reopening a closed endpoint)

Codes (:class:`ErrorCode`)::

    code     name                    meaning
    -32700   PARSE_ERROR             the line is not JSON (invalid UTF-8, syntax, NaN...); id null
    -32600   INVALID_REQUEST         not a valid request object; empty batch; after shutdown
    -32601   METHOD_NOT_FOUND        no such method
    -32602   INVALID_PARAMS          params failed validation ("params.goal: Field required")
    -32603   INTERNAL_ERROR          a handler failed unexpectedly (details only in the log)
    -32000..-32099                   implementation-defined server errors:
    -32001   REQUEST_TIMEOUT         a request did not complete in time
    -32002   SERVER_NOT_INITIALIZED  a request other than ``initialize`` came first
    -32003   SHUTTING_DOWN           the endpoint is closing and takes no new requests
    -32004   MESSAGE_TOO_LARGE       a line exceeded the maximum line length; id null
    -32800   REQUEST_CANCELLED       cancelled by ``$/cancelRequest`` or by shutdown (as in LSP)
    -33000..-33999                   reserved for orchestrator domain errors (later layers)
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

from opencode_orchestrator.errors import OrchestratorError

__all__ = [
    "DOMAIN_ERROR_RANGE",
    "SERVER_ERROR_RANGE",
    "ConnectionClosedError",
    "EndpointStateError",
    "ErrorCode",
    "InvalidResultError",
    "JsonRpcError",
    "RemoteError",
    "RequestTimeoutError",
    "RpcError",
]

SERVER_ERROR_RANGE: Final = range(-32099, -32000 + 1)
"""Implementation-defined server error codes reserved by JSON-RPC 2.0."""

DOMAIN_ERROR_RANGE: Final = range(-33999, -33000 + 1)
"""Codes reserved for orchestrator domain errors raised by later layers."""


class ErrorCode(IntEnum):
    """Error codes this implementation puts on the wire."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    REQUEST_TIMEOUT = -32001
    SERVER_NOT_INITIALIZED = -32002
    SHUTTING_DOWN = -32003
    MESSAGE_TOO_LARGE = -32004
    REQUEST_CANCELLED = -32800


class JsonRpcError(OrchestratorError):
    """Root of every error raised by the JSON-RPC layers."""


class _CodedError(JsonRpcError):
    """An error that carries a JSON-RPC error object (code, message, data)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_error_object(self) -> dict[str, Any]:
        """The JSON-RPC error object, ``data`` omitted when absent."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"


class RpcError(_CodedError):
    """Raised by a method handler to answer its request with this error object.

    Use a code of :class:`ErrorCode`, of :data:`SERVER_ERROR_RANGE` or of
    :data:`DOMAIN_ERROR_RANGE`. ``data`` must be JSON-serialisable.
    """


class RemoteError(_CodedError):
    """The peer answered one of our calls with an error object."""


class RequestTimeoutError(JsonRpcError):
    """An outgoing call got no response within its timeout; the peer was told to cancel."""

    def __init__(self, method: str, timeout: float) -> None:
        super().__init__(f"request {method!r} timed out after {timeout:g} s")
        self.method = method
        self.timeout = timeout


class ConnectionClosedError(JsonRpcError):
    """The connection is closed (or closed while a call was waiting for its response)."""


class InvalidResultError(JsonRpcError):
    """The peer's result did not validate against the ``result_type`` asked for."""


class EndpointStateError(JsonRpcError):
    """The endpoint was used in a way its lifecycle forbids (e.g. started twice)."""
