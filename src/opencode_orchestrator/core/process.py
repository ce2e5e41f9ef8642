"""Running the core as this process: the wire on fd 0/1, signals, stray output.

fd 1 is the protocol channel, so it is duplicated for the wire and fd 1 itself
(with ``sys.stdout``) is pointed at stderr: a stray ``print`` or a library
writing to stdout can then never corrupt the stream.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable

import anyio

from opencode_orchestrator.core.server import CoreServer, ServerOptions
from opencode_orchestrator.jsonrpc import Endpoint, FdReceiveStream, FdSendStream
from opencode_orchestrator.log import get_logger

__all__ = ["serve_stdio"]

_log = get_logger(__name__)
_SIGNAL_EXIT_CODE = 0  # a requested stop is a success


async def _stop_on_signals(server: CoreServer) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            _log.info("signal received, shutting down", signal=signal.Signals(signum).name)
            server.stop(_SIGNAL_EXIT_CODE)


async def serve_stdio(
    options: ServerOptions | None = None,
    *,
    setup: Callable[[CoreServer], Awaitable[None]] | None = None,
) -> int:
    """Serve the core on stdin/stdout until exit, end of input or SIGTERM/SIGINT/SIGHUP.

    Args:
        options: server settings.
        setup: called with the server before serving, to register methods and hooks.

    Returns:
        The process exit code.
    """
    options = options or ServerOptions()
    wire_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    endpoint = Endpoint(
        FdReceiveStream(0),
        FdSendStream(wire_fd, close_fd=True),
        max_line_bytes=options.max_line_bytes,
        request_timeout=options.request_timeout,
    )
    server = CoreServer(endpoint, options)
    if setup is not None:
        await setup(server)
    _log.info("serving on stdio", pid=os.getpid(), max_line_bytes=options.max_line_bytes)
    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_signals, server)
        exit_code = await server.run()
        group.cancel_scope.cancel()
    _log.info("stopped", exit_code=exit_code)
    return exit_code
