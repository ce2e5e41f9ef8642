"""Message dispatch over the NDJSON transport: the untyped JSON-RPC engine.

Incoming requests run concurrently on a pool of ``max_concurrent_requests``
worker tasks (:mod:`.workers`): when every worker is busy the reader stops
reading, which pushes back on the peer through the pipe. Notifications are
handled one at a time, in arrival order, by a single worker fed through a
bounded queue. Synchronous request handlers run inline in the reader
(:mod:`.replies`), and the replies to every line of one read leave in one
write; where the loop itself reads (stdin), a read that arrives while the
reader waits is answered right in the loop's read callback, without waking the
read task, up to the first line only the read task may handle
(:meth:`.FastPath.answer_read`). ``$/cancelRequest`` is handled as soon as it
is read so that it never waits behind the work it cancels. Outgoing calls are
correlated by ids unique to this dispatcher and bounded by a timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from enum import Enum
from functools import partial
from typing import Any, TypeAlias

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from opencode_orchestrator.jsonrpc import messages as wire
from opencode_orchestrator.jsonrpc.errors import (
    ConnectionClosedError,
    EndpointStateError,
)
from opencode_orchestrator.jsonrpc.fastpath import FastPath, RequestGuard
from opencode_orchestrator.jsonrpc.framing import LineReader
from opencode_orchestrator.jsonrpc.notifications import NotificationHandler, run_notifications
from opencode_orchestrator.jsonrpc.outgoing import CANCEL_METHOD, OutgoingCalls
from opencode_orchestrator.jsonrpc.replies import (
    CANCELLED_ERROR,
    BatchReply,
    SyncRequestHandler,
    encode_reply,
    failure_response,
    run_sync_handler,
)
from opencode_orchestrator.jsonrpc.workers import WorkerPool
from opencode_orchestrator.jsonrpc.writer import LineWriter
from opencode_orchestrator.log import get_logger

__all__ = [
    "CANCEL_METHOD",
    "Dispatcher",
    "DispatcherState",
    "NotificationHandler",
    "RequestGuard",
    "RequestHandler",
    "SyncRequestHandler",
]

RequestHandler: TypeAlias = Callable[[wire.Params], Awaitable[Any]]
_Reply: TypeAlias = Callable[[dict[str, Any]], Awaitable[None]]
_Job: TypeAlias = tuple[wire.Request, anyio.CancelScope, _Reply]


_log = get_logger(__name__)


class DispatcherState(Enum):
    """Lifecycle of a dispatcher; it only moves forward, so a closed one cannot reopen."""

    NEW = "new"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


class Dispatcher:
    """Reads, routes and answers JSON-RPC messages; sends calls and notifications.

    Handlers receive raw ``params`` (dict, list or None). Request handlers are
    async (:attr:`request_handlers`, run concurrently by workers) or synchronous
    (:attr:`sync_request_handlers`, run inline by the reader: quick, never
    blocking). A request handler's return value is the result; raising
    :class:`RpcError` answers with that error; any other exception is logged
    with its traceback and answered with a generic internal error.
    """

    def __init__(
        self,
        reader: LineReader,
        writer: LineWriter,
        *,
        request_timeout: float | None = 30.0,
        max_concurrent_requests: int = 64,
        max_queued_notifications: int = 256,
        close_grace: float = 0.5,
    ) -> None:
        self.request_handlers: dict[str, RequestHandler] = {}
        self.sync_request_handlers: dict[str, SyncRequestHandler] = {}
        self.notification_handlers: dict[str, NotificationHandler] = {}
        self._reader = reader
        self._writer = writer
        self._close_grace = close_grace
        self._state = DispatcherState.NEW
        self._calls = OutgoingCalls(writer, request_timeout)
        self._running: dict[wire.RequestId, anyio.CancelScope] = {}
        self._fast = FastPath(self.request_handlers, self.sync_request_handlers, self._running)
        self._workers: WorkerPool[_Job] = WorkerPool(max_concurrent_requests)
        self._max_queued_notifications = max_queued_notifications
        # Created by run(), so that a dispatcher that never runs holds nothing to close.
        self._notifications: MemoryObjectSendStream[wire.Notification] | None = None
        self._close_requested = anyio.Event()
        self._closed = anyio.Event()

    @property
    def state(self) -> DispatcherState:
        """Where the dispatcher is in its lifecycle."""
        return self._state

    @property
    def request_guard(self) -> RequestGuard | None:
        """A check run before every incoming request; it refuses by raising RpcError."""
        return self._fast.guard

    @request_guard.setter
    def request_guard(self, guard: RequestGuard | None) -> None:
        self._fast.guard = guard

    def request_close(self) -> None:
        """Ask :meth:`run` to stop: in-flight requests are cancelled, queued output flushed."""
        if self._state is DispatcherState.NEW:
            self._state = DispatcherState.CLOSED
            self._closed.set()
        self._close_requested.set()

    async def wait_closed(self) -> None:
        """Wait until :meth:`run` has finished."""
        await self._closed.wait()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until end of input or :meth:`request_close`, then shut down in order.

        Raises:
            EndpointStateError: the dispatcher already ran (or was closed).
        """
        if self._state is not DispatcherState.NEW:
            raise EndpointStateError(f"cannot start a dispatcher that is {self._state.value}")
        self._state = DispatcherState.RUNNING
        self._fast.accepting = True
        self._writer.open()
        self._notifications, notifications = anyio.create_memory_object_stream[wire.Notification](
            self._max_queued_notifications
        )
        try:
            async with anyio.create_task_group() as output:
                output.start_soon(self._write_loop)
                async with anyio.create_task_group() as work:
                    read_scope, notification_scope, timer_scope = (
                        anyio.CancelScope() for _ in range(3)
                    )
                    work.start_soon(self._in_scope, read_scope, self._read_loop)
                    work.start_soon(self._in_scope, timer_scope, self._calls.watch_deadlines)
                    for _ in range(self._workers.size):
                        work.start_soon(self._workers.run_worker, self._handle_request)
                    work.start_soon(
                        self._in_scope,
                        notification_scope,
                        run_notifications,
                        self.notification_handlers,
                        notifications,
                    )
                    task_status.started()
                    await self._close_requested.wait()
                    self._state = DispatcherState.CLOSING
                    self._fast.accepting = False
                    for scope in (read_scope, notification_scope, timer_scope):
                        scope.cancel()
                    self._workers.close()
                    for scope in self._running.values():
                        scope.cancel()
                    # A handler that ignores cancellation must not hold the shutdown forever.
                    work.cancel_scope.deadline = anyio.current_time() + self._close_grace
                self._calls.fail_all()
                self._writer.close()
                output.cancel_scope.deadline = anyio.current_time() + self._close_grace
        finally:
            self._state = DispatcherState.CLOSED
            self._fast.accepting = False
            self._calls.fail_all()
            self._notifications.close()
            notifications.close()
            self._writer.discard()
            self._close_requested.set()
            self._closed.set()
            with anyio.CancelScope(shield=True):
                await self._reader.aclose()

    @staticmethod
    async def _in_scope(
        scope: anyio.CancelScope, loop: Callable[..., Awaitable[None]], *args: Any
    ) -> None:
        with scope:
            await loop(*args)

    async def _write_loop(self) -> None:
        with contextlib.suppress(anyio.BrokenResourceError):
            await self._writer.run()
        # A write may also have failed in a handler writing its reply directly.
        if self._writer.broken:
            _log.warning("output stream broken: the peer stopped reading")
            self.request_close()

    async def _read_loop(self) -> None:
        # Every line of one read is handled before the next read; the replies of inline
        # handlers are gathered and leave together in one write.
        replies = bytearray()
        answer_many = self._fast.answer_many
        # While this loop waits, a read of inline requests is answered where it arrives.
        self._reader.set_consumer(partial(self._fast.answer_read, writer=self._writer))
        try:
            while lines := await self._reader.receive_lines():
                pending = iter(lines)
                # The fast path answers lines until one must go the general way: everything
                # else, including a request to an inline handler that must be refused
                # (duplicate id, closing). It is dispatched, then the fast path resumes.
                while (parsed := answer_many(pending, replies)) is not None:
                    if replies:
                        # Dispatching below may wait (every worker busy): do not hold these.
                        await self._flush(replies)
                    if isinstance(parsed, list):
                        await self._dispatch_batch(parsed)
                    else:
                        await self._dispatch(parsed, self._send_reply)
                if replies:
                    await self._flush(replies)
        except ConnectionClosedError:
            _log.debug("output closed while reading")
        finally:
            self._reader.set_consumer(None)
        self.request_close()

    async def _flush(self, replies: bytearray) -> None:
        # A copy: the buffer is reused, and the writer may hold on to what it is given.
        data = bytes(replies)
        replies.clear()
        await self._writer.send_now(data)

    async def _dispatch_batch(self, batch: wire.Batch) -> None:
        expected = sum(
            isinstance(m, wire.Request) or (isinstance(m, wire.InvalidMessage) and m.reply)
            for m in batch
        )
        reply = BatchReply(self._writer, expected)
        for message in batch:
            await self._dispatch(message, reply.add)

    async def _dispatch(self, message: wire.Incoming, reply: _Reply) -> None:
        if isinstance(message, wire.Request):
            await self._start_request(message, reply)
        elif isinstance(message, wire.Notification):
            if message.method == CANCEL_METHOD:
                self._cancel_incoming(message.params)
            else:
                assert self._notifications is not None  # set while running
                await self._notifications.send(message)
        elif isinstance(message, wire.Response):
            self._calls.resolve(message)
        elif message.reply:
            error = {"code": message.code, "message": message.message}
            await reply(wire.error_response(message.id, error))
        else:
            _log.warning("dropped a malformed response", id=message.id, reason=message.message)

    async def _start_request(self, request: wire.Request, reply: _Reply) -> None:
        refusal = self._fast.refusal(request.id, request.method)
        if refusal is not None:
            await reply(wire.error_response(request.id, refusal))
            return
        sync_handler = self.sync_request_handlers.get(request.method)
        if sync_handler is not None:  # within a batch
            await reply(run_sync_handler(sync_handler, request))
            return
        scope = anyio.CancelScope()
        self._running[request.id] = scope
        try:
            await self._workers.submit((request, scope, reply))
        except BaseException:  # cancelled while every worker was busy: closing
            self._running.pop(request.id, None)
            raise

    async def _handle_request(self, job: _Job) -> None:
        request, scope, reply = job
        try:
            message = await self._invoke(request, scope)
            await reply(message)
        except ConnectionClosedError:
            _log.debug("reply dropped: output closed", id=request.id)
        finally:
            self._running.pop(request.id, None)

    async def _invoke(self, request: wire.Request, scope: anyio.CancelScope) -> dict[str, Any]:
        handler = self.request_handlers[request.method]
        with scope:
            try:
                result = await handler(request.params)
            except Exception:  # noqa: BLE001 - a handler bug must answer, not kill the server
                return failure_response(request.id, request.method)
            return wire.result_response(request.id, result)
        # Only reached when this request's own scope was cancelled ($/cancelRequest, close).
        return wire.error_response(request.id, CANCELLED_ERROR)

    def _cancel_incoming(self, params: wire.Params) -> None:
        target = params.get("id") if isinstance(params, dict) else None
        scope = self._running.get(target) if isinstance(target, int | str) else None
        if scope is not None:
            scope.cancel()

    async def _send_reply(self, message: dict[str, Any]) -> None:
        line = encode_reply(message)
        if len(self._running) <= 1:
            # Nothing else in flight to coalesce with: write now, sparing a task switch.
            await self._writer.send_now(line)
        else:
            await self._writer.send(line)

    def _check_running(self) -> None:
        if self._state is not DispatcherState.RUNNING:
            raise ConnectionClosedError(f"the connection is {self._state.value}")

    async def call(
        self,
        method: str,
        params: wire.Params,
        timeout: float | None = None,  # noqa: ASYNC109 - per-call override of the default
    ) -> Any:
        """Send a request and return its result; see :meth:`OutgoingCalls.call`.

        Raises:
            ConnectionClosedError: the dispatcher is not running.
        """
        self._check_running()
        return await self._calls.call(method, params, timeout)

    async def notify(self, method: str, params: wire.Params) -> None:
        """Send a notification.

        Raises:
            ConnectionClosedError: the connection is closed.
            TypeError: ``params`` is not JSON-serialisable.
        """
        self._check_running()
        await self._writer.send(wire.encode(wire.notification(method, params)))
