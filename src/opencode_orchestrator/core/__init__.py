"""The core server: the JSON-RPC session the plugin shim talks to over stdio."""

from __future__ import annotations

from opencode_orchestrator.core.lifecycle import Lifecycle, SessionState
from opencode_orchestrator.core.methods import (
    PROTOCOL_VERSION,
    SERVER_NAME,
    ClientInfo,
    InitializeParams,
    InitializeResult,
    ServerCapabilities,
    ServerInfo,
    SleepParams,
)
from opencode_orchestrator.core.process import serve_stdio
from opencode_orchestrator.core.server import CoreServer, ServerOptions

__all__ = [
    "PROTOCOL_VERSION",
    "SERVER_NAME",
    "ClientInfo",
    "CoreServer",
    "InitializeParams",
    "InitializeResult",
    "Lifecycle",
    "ServerCapabilities",
    "ServerInfo",
    "ServerOptions",
    "SessionState",
    "SleepParams",
    "serve_stdio",
]
