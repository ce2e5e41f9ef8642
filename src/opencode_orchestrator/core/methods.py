"""The core's JSON-RPC methods and their parameter and result models."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import anyio
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from opencode_orchestrator import __version__
from opencode_orchestrator.core.lifecycle import Lifecycle
from opencode_orchestrator.jsonrpc import Endpoint
from opencode_orchestrator.log import get_logger

__all__ = [
    "PROTOCOL_VERSION",
    "SERVER_NAME",
    "ClientInfo",
    "CoreMethods",
    "InitializeParams",
    "InitializeResult",
    "ServerCapabilities",
    "ServerInfo",
    "SessionHooks",
    "SleepParams",
    "WireModel",
]

PROTOCOL_VERSION: Final = "1"
SERVER_NAME: Final = "opencode-orchestrator"

_log = get_logger(__name__)


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields ignored for compatibility."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ClientInfo(WireModel):
    """Who is calling (the shim)."""

    name: str
    version: str | None = None


class InitializeParams(WireModel):
    """What the shim tells the core about the OpenCode session it serves."""

    protocol_version: str | None = None
    client_info: ClientInfo | None = None
    server_url: str | None = None
    directory: str | None = None
    worktree: str | None = None
    password: SecretStr | None = None
    auto_resume: bool = True
    """Resume the directory's unfinished missions on ``initialized`` (see ``core.missions``)."""


class ServerInfo(WireModel):
    """Name and version of the core."""

    name: str
    version: str


class ServerCapabilities(WireModel):
    """Optional protocol features the core supports."""

    cancel_request: bool = True
    batches: bool = True
    methods: list[str] = Field(default_factory=list)


class InitializeResult(WireModel):
    """The answer to ``initialize``."""

    protocol_version: str
    server_info: ServerInfo
    capabilities: ServerCapabilities


class SleepParams(WireModel):
    """``diagnostics/sleep``: wait this many seconds (cancellable)."""

    seconds: float = Field(ge=0, le=3600)


@dataclass(frozen=True, slots=True)
class SessionHooks:
    """What later layers do at the session's steps (the core's missions, say).

    Attributes:
        methods: more method names to announce in ``capabilities.methods``.
        initialize: called with ``initialize``'s params before it is answered.
        initialized: called when the ``initialized`` notification arrives.
        shutdown: awaited by ``shutdown`` before it is answered.
    """

    methods: tuple[str, ...] = ()
    initialize: Callable[[InitializeParams], None] | None = None
    initialized: Callable[[], None] | None = None
    shutdown: Callable[[], Awaitable[None]] | None = None


class CoreMethods:
    """Handlers of the core's methods; ``stop(exit_code)`` ends the process's session."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        stop: Callable[[int], None],
        hooks: SessionHooks | None = None,
    ) -> None:
        self._lifecycle = lifecycle
        self._stop = stop
        self._hooks = hooks or SessionHooks()
        self.session: InitializeParams | None = None

    def register(self, endpoint: Endpoint) -> None:
        """Register every core method on ``endpoint`` and guard requests by the lifecycle."""
        endpoint.set_request_guard(self._lifecycle.check_request)
        endpoint.method("initialize", InitializeParams)(self.initialize)
        endpoint.notification("initialized")(self.initialized)
        endpoint.method("shutdown")(self.shutdown)
        endpoint.notification("exit")(self.exit)
        endpoint.method("echo")(self.echo)
        endpoint.method("diagnostics/sleep", SleepParams)(self.sleep)

    async def initialize(self, params: InitializeParams) -> InitializeResult:
        """Start the session; remember where OpenCode runs."""
        self._lifecycle.begin_initialize()
        self.session = params
        client = params.client_info
        _log.info(
            "initialize",
            client=client.name if client else None,
            client_version=client.version if client else None,
            protocol_version=params.protocol_version,
            directory=params.directory,
            worktree=params.worktree,
            # A SecretStr renders as stars, and the log's redaction replaces it anyway.
            password=params.password,
        )
        methods = ["initialize", "initialized", "shutdown", "exit", "echo", "diagnostics/sleep"]
        methods += self._hooks.methods
        if self._hooks.initialize is not None:
            self._hooks.initialize(params)
        return InitializeResult(
            protocol_version=PROTOCOL_VERSION,
            server_info=ServerInfo(name=SERVER_NAME, version=__version__),
            capabilities=ServerCapabilities(methods=methods),
        )

    async def initialized(self, _params: Any) -> None:
        """The client is ready."""
        if not self._lifecycle.confirm_initialized():
            _log.warning("initialized notification out of order", state=self._lifecycle.state.value)
            return
        if self._hooks.initialized is not None:
            self._hooks.initialized()

    async def shutdown(self, _params: Any) -> None:
        """Stop serving requests; the process ends on ``exit``."""
        self._lifecycle.shutdown()
        _log.info("shutdown requested")
        if self._hooks.shutdown is not None:
            await self._hooks.shutdown()

    async def exit(self, _params: Any) -> None:
        """End the process: exit code 0 after ``shutdown``, 1 without."""
        code = self._lifecycle.exit()
        _log.info("exit", exit_code=code)
        self._stop(code)

    def echo(self, params: Any) -> Any:
        """Return the params unchanged (the benchmark's method).

        Synchronous, so it is answered inline by the reader: quick and CPU-only.
        """
        return params

    async def sleep(self, params: SleepParams) -> dict[str, float]:
        """Sleep, cancellably; a diagnostic for cancellation and concurrency tests."""
        await anyio.sleep(params.seconds)
        return {"slept": params.seconds}
