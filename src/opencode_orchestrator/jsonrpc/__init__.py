"""JSON-RPC 2.0 over newline-delimited JSON, for any anyio byte streams.

Layers, each knowing only the one below: :mod:`.messages` (wire forms) →
:mod:`.framing` (NDJSON lines) → :mod:`.dispatcher` (routing, concurrency,
cancellation) → :mod:`.endpoint` (typed methods and calls). :mod:`.stdio` and
:mod:`.memory` provide byte streams to run them over.
"""

from __future__ import annotations

from opencode_orchestrator.jsonrpc.dispatcher import CANCEL_METHOD, DispatcherState
from opencode_orchestrator.jsonrpc.endpoint import Endpoint, ParamsLike, invalid_params_error
from opencode_orchestrator.jsonrpc.errors import (
    DOMAIN_ERROR_RANGE,
    SERVER_ERROR_RANGE,
    ConnectionClosedError,
    EndpointStateError,
    ErrorCode,
    InvalidResultError,
    JsonRpcError,
    RemoteError,
    RequestTimeoutError,
    RpcError,
)
from opencode_orchestrator.jsonrpc.framing import DEFAULT_MAX_LINE_BYTES
from opencode_orchestrator.jsonrpc.memory import MemoryByteStream, memory_stream_pair
from opencode_orchestrator.jsonrpc.stdio import FdReceiveStream, FdSendStream

__all__ = [
    "CANCEL_METHOD",
    "DEFAULT_MAX_LINE_BYTES",
    "DOMAIN_ERROR_RANGE",
    "SERVER_ERROR_RANGE",
    "ConnectionClosedError",
    "DispatcherState",
    "Endpoint",
    "EndpointStateError",
    "ErrorCode",
    "FdReceiveStream",
    "FdSendStream",
    "InvalidResultError",
    "JsonRpcError",
    "MemoryByteStream",
    "ParamsLike",
    "RemoteError",
    "RequestTimeoutError",
    "RpcError",
    "invalid_params_error",
    "memory_stream_pair",
]
