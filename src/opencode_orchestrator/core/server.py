"""The core server: the JSON-RPC endpoint, the session lifecycle and shutdown hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import anyio

from opencode_orchestrator.core.lifecycle import Lifecycle
from opencode_orchestrator.core.methods import CoreMethods, InitializeParams, SessionHooks
from opencode_orchestrator.core.missions import MISSION_METHODS, MissionMethods, MissionRegistry
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

    The missions the shim starts run in :attr:`missions`, in a task group that
    lives as long as :meth:`run`. ``shutdown``, the end of input and
    :meth:`stop` stop them where they stand (resumable, not cancelled), first
    thing within the shutdown hooks' budget.
    """

    def __init__(self, endpoint: Endpoint, options: ServerOptions | None = None) -> None:
        self.endpoint = endpoint
        self.options = options or ServerOptions()
        self.lifecycle = Lifecycle()
        self.exit_stack = AsyncExitStack()
        self._exit_code: int | None = None
        self.missions = MissionRegistry(endpoint.notify)
        self._missions = MissionMethods(self.missions, lambda: self._methods.session)
        hooks = SessionHooks(
            methods=MISSION_METHODS,
            initialize=self._missions.on_initialize,
            initialized=self._missions.ensure_auto_resume,
            shutdown=self._stop_missions,
        )
        self._methods = CoreMethods(self.lifecycle, self.stop, hooks)
        self._methods.register(endpoint)
        self._missions.register(endpoint)

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
        async with anyio.create_task_group() as group:
            await group.start(self.missions.run)
            try:
                await self.endpoint.serve_forever()
            finally:
                if self._exit_code is None:
                    self._exit_code = 0 if self.lifecycle.shut_down else 1
                    _log.info("end of input", exit_code=self._exit_code)
                await self._run_hooks()
                # Stopped by now, unless the hooks ran out of time: then this stops them.
                group.cancel_scope.cancel()
        assert self._exit_code is not None  # set in the finally above
        return self._exit_code

    async def _stop_missions(self) -> None:
        """Stop the missions within the hooks' budget (``shutdown`` answers after this)."""
        with anyio.move_on_after(self.options.hooks_timeout, shield=True) as scope:
            await self.missions.stop()
        if scope.cancelled_caught:
            _log.error("missions did not stop in time", timeout=self.options.hooks_timeout)

    async def _run_hooks(self) -> None:
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + self.options.hooks_timeout
            for step in (self.missions.stop, self.exit_stack.aclose):
                try:
                    await step()
                except Exception:  # noqa: BLE001 - a failing hook must not hide the others' work
                    _log.exception("shutdown hook failed")
                    self._exit_code = 1
        if scope.cancelled_caught:
            _log.error("shutdown hooks timed out", timeout=self.options.hooks_timeout)
            self._exit_code = 1
