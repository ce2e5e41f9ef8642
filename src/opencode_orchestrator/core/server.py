"""The core server: the JSON-RPC endpoint, the session lifecycle and shutdown hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import anyio

from opencode_orchestrator.core.lifecycle import Lifecycle
from opencode_orchestrator.core.methods import CoreMethods, InitializeParams
from opencode_orchestrator.jsonrpc import DEFAULT_MAX_LINE_BYTES, Endpoint
from opencode_orchestrator.log import get_logger

__all__ = ["CoreServer", "ServerOptions"]

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Settings of the core server.

    Attributes:
        max_line_bytes: longest accepted message line.
        request_timeout: default timeout of calls the core makes to the shim, in seconds.
        hooks_timeout: how long shutdown hooks may take in total before being cancelled.
    """

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    request_timeout: float = 30.0
    hooks_timeout: float = 1.0


class CoreServer:
    """Serves the core's methods on an endpoint until ``exit``, end of input or :meth:`stop`.

    Later layers register resources to release at shutdown (open WALs...) on
    :attr:`exit_stack` or with :meth:`add_shutdown_hook`; they run, last
    registered first, however the session ends.
    """

    def __init__(self, endpoint: Endpoint, options: ServerOptions | None = None) -> None:
        self.endpoint = endpoint
        self.options = options or ServerOptions()
        self.lifecycle = Lifecycle()
        self.exit_stack = AsyncExitStack()
        self._exit_code: int | None = None
        self._methods = CoreMethods(self.lifecycle, self.stop)
        self._methods.register(endpoint)

    @property
    def session(self) -> InitializeParams | None:
        """What the shim sent in ``initialize`` (None before it)."""
        return self._methods.session

    def add_shutdown_hook(self, hook: Callable[[], Awaitable[object]]) -> None:
        """Run ``hook`` at shutdown (after in-flight requests were cancelled)."""
        self.exit_stack.push_async_callback(hook)

    def stop(self, exit_code: int) -> None:
        """End the session with ``exit_code`` (the first stop wins)."""
        if self._exit_code is None:
            self._exit_code = exit_code
        self.endpoint.close()

    async def run(self) -> int:
        """Serve, then run the shutdown hooks; return the process exit code.

        The exit code is the one given to :meth:`stop` (``exit`` gives 0 after
        ``shutdown``, else 1); at end of input it is 0 after ``shutdown``, else 1.
        """
        try:
            await self.endpoint.serve_forever()
        finally:
            if self._exit_code is None:
                self._exit_code = 0 if self.lifecycle.shut_down else 1
                _log.info("end of input", exit_code=self._exit_code)
            await self._run_hooks()
        return self._exit_code

    async def _run_hooks(self) -> None:
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + self.options.hooks_timeout
            try:
                await self.exit_stack.aclose()
            except Exception:  # noqa: BLE001 - a failing hook must not hide the others' work
                _log.exception("shutdown hook failed")
                self._exit_code = 1
        if scope.cancelled_caught:
            _log.error("shutdown hooks timed out", timeout=self.options.hooks_timeout)
            self._exit_code = 1
