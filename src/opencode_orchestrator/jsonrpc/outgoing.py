"""Calls this side makes: ids, correlation of responses, timeouts and cancellation.

Ids are consecutive integers unique to one connection. A response whose id
matches no pending call (a late answer after a timeout, a confused peer) is
logged and dropped.

Calls under the default timeout share one watcher task instead of a cancel
scope (and an event-loop timer) each: they all wait the same time, so the
order they started in is the order they expire in, and the watcher only ever
looks at the oldest. A call with its own timeout keeps a scope of its own.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Final

import anyio

from opencode_orchestrator.jsonrpc import messages as wire
from opencode_orchestrator.jsonrpc.errors import (
    ConnectionClosedError,
    RemoteError,
    RequestTimeoutError,
)
from opencode_orchestrator.jsonrpc.writer import LineWriter
from opencode_orchestrator.log import get_logger

__all__ = ["CANCEL_METHOD", "OutgoingCalls"]

CANCEL_METHOD: Final = "$/cancelRequest"

_log = get_logger(__name__)


class _PendingCall:
    __slots__ = ("closed", "deadline", "done", "response")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.response: wire.Response | None = None
        self.closed = False
        self.deadline = math.inf


class OutgoingCalls:
    """The table of our requests awaiting a response."""

    def __init__(self, writer: LineWriter, default_timeout: float | None) -> None:
        self._writer = writer
        self._default_timeout = default_timeout
        self._ids = itertools.count(1)
        self._pending: dict[wire.RequestId, _PendingCall] = {}
        # Calls under the default timeout, oldest first: also soonest to expire first.
        self._by_deadline: dict[wire.RequestId, _PendingCall] = {}
        self._watcher_idle: anyio.Event | None = None

    async def call(
        self,
        method: str,
        params: wire.Params,
        timeout: float | None = None,  # noqa: ASYNC109 - per-call override of the default
    ) -> Any:
        """Send a request and wait for its result (``timeout`` None: the default timeout).

        Raises:
            RemoteError: the peer answered with an error object.
            RequestTimeoutError: no answer in time; ``$/cancelRequest`` was sent.
            ConnectionClosedError: the connection is or became closed.
            TypeError: ``params`` is not JSON-serialisable.
        """
        request_id = next(self._ids)
        line = wire.encode(wire.request(request_id, method, params))
        pending = _PendingCall()
        self._pending[request_id] = pending
        limit = self._default_timeout if timeout is None else timeout
        try:
            if len(self._pending) == 1:
                # The only call in flight: nothing to coalesce with, write it at once.
                await self._writer.send_now(line)
            else:
                await self._writer.send(line)
            if timeout is None and limit is not None and limit != math.inf:
                # The watcher times this one out; the clock starts once it is sent, as below.
                pending.deadline = anyio.current_time() + limit
                self._by_deadline[request_id] = pending
                if self._watcher_idle is not None:
                    self._watcher_idle.set()
                await pending.done.wait()
            else:
                with anyio.move_on_after(limit):
                    await pending.done.wait()
        except anyio.get_cancelled_exc_class():
            self._send_cancel(request_id)
            raise
        finally:
            self._pending.pop(request_id, None)
            self._by_deadline.pop(request_id, None)
        response = pending.response
        if response is None:
            if pending.closed:
                raise ConnectionClosedError(f"connection closed while waiting for {method!r}")
            self._send_cancel(request_id)
            raise RequestTimeoutError(method, limit if limit is not None else 0.0)
        if response.error is not None:
            error = response.error
            raise RemoteError(error.code, error.message, error.data)
        return response.result

    def _send_cancel(self, request_id: wire.RequestId) -> None:
        # Best effort, never waiting: the caller is already giving up.
        cancel = wire.encode(wire.notification(CANCEL_METHOD, {"id": request_id}))
        self._writer.send_nowait(cancel)

    def resolve(self, response: wire.Response) -> None:
        """Hand a response to the call waiting for it (or log and drop it)."""
        if response.id is None:
            # The peer could not tell which message it rejects (e.g. one it could not parse).
            error = response.error
            _log.warning(
                "peer reported an unattributed error",
                code=error.code if error else None,
                reason=error.message if error else None,
            )
            return
        pending = self._pending.pop(response.id, None)
        if pending is None:
            _log.warning("dropped a response to no pending request", id=response.id)
            return
        pending.response = response
        pending.done.set()

    async def watch_deadlines(self) -> None:
        """Time out calls under the default timeout (run in a task while connected)."""
        while True:
            if not self._by_deadline:
                self._watcher_idle = anyio.Event()
                await self._watcher_idle.wait()
                self._watcher_idle = None
                continue
            request_id, pending = next(iter(self._by_deadline.items()))
            delay = pending.deadline - anyio.current_time()
            if delay > 0:
                # Woken early is harmless: the oldest call is looked at again.
                await anyio.sleep(delay)
                continue
            # Left without a response: the waiting call sees that and raises the timeout.
            del self._by_deadline[request_id]
            self._pending.pop(request_id, None)
            pending.done.set()

    def fail_all(self) -> None:
        """The connection is closing: every waiting call raises ConnectionClosedError."""
        for pending in self._pending.values():
            pending.closed = True
            pending.done.set()
        self._pending.clear()
