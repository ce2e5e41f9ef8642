"""The typed JSON-RPC endpoint: pydantic-validated handlers and typed calls.

An :class:`Endpoint` wraps any pair of anyio byte streams (process pipes, file
descriptors, in-memory streams) with the NDJSON transport and the dispatcher,
and adds what those layers do not know about: parameter models, result models
and the translation of validation failures into ``-32602`` errors whose
message names the offending fields and nothing of the library behind them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import lru_cache
from inspect import iscoroutinefunction
from types import TracebackType
from typing import Any, Final, TypeAlias, TypeVar, overload

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, ByteStream
from pydantic import BaseModel, TypeAdapter, ValidationError

from opencode_orchestrator.jsonrpc import messages as wire
from opencode_orchestrator.jsonrpc.dispatcher import Dispatcher, DispatcherState, RequestGuard
from opencode_orchestrator.jsonrpc.errors import (
    EndpointStateError,
    ErrorCode,
    InvalidResultError,
    RpcError,
)
from opencode_orchestrator.jsonrpc.framing import DEFAULT_MAX_LINE_BYTES, LineReader
from opencode_orchestrator.jsonrpc.writer import LineWriter

__all__ = ["Endpoint", "ParamsLike", "invalid_params_error"]

ParamsModel = TypeVar("ParamsModel", bound=BaseModel)
Result = TypeVar("Result")
ParamsLike: TypeAlias = BaseModel | Mapping[str, Any] | Sequence[Any] | None
_RawHandler = TypeVar("_RawHandler", bound=Callable[[wire.Params], Awaitable[Any]])
_AnyHandler = TypeVar("_AnyHandler", bound=Callable[[wire.Params], Any])

# Pydantic phrases these with the model's class name; the wire must not show it.
_NEUTRAL_MESSAGES = {
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
    "dataclass_type": "Input should be an object",
    "is_instance_of": "Input has the wrong type",
    "is_subclass_of": "Input has the wrong type",
}


def invalid_params_error(exc: ValidationError) -> RpcError:
    """Turn a validation failure into a ``-32602`` error listing ``params.<path>: <problem>``."""
    problems = [
        {
            "path": ".".join(["params", *(str(part) for part in error["loc"])]),
            "message": _NEUTRAL_MESSAGES.get(error["type"], error["msg"]),
        }
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    message = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:10])
    return RpcError(ErrorCode.INVALID_PARAMS, message, {"errors": problems})


def _validate_params(model: type[ParamsModel], params: wire.Params) -> ParamsModel:
    if isinstance(params, list):
        raise RpcError(ErrorCode.INVALID_PARAMS, "params: by-position params are not supported")
    try:
        return model.model_validate(params if params is not None else {})
    except ValidationError as exc:
        raise invalid_params_error(exc) from None


def _to_wire(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return value


def _params_to_wire(params: ParamsLike) -> wire.Params:
    if params is None or type(params) is dict:
        # Not copied: the call encodes it before anything else can run.
        return params
    if isinstance(params, BaseModel):
        return params.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(params, Mapping):
        return dict(params)
    if isinstance(params, str | bytes):
        raise TypeError("params must be a model, a mapping, a sequence or None")
    return list(params)


_PLAIN_JSON: Final = frozenset({dict, list, str, int, float, bool, type(None)})


@lru_cache(maxsize=256)
def _adapter(result_type: Any) -> TypeAdapter[Any]:
    return TypeAdapter(result_type)


class Endpoint:
    """One side of a JSON-RPC 2.0 connection over NDJSON; either side may call the other.

    Args:
        receive_stream: where messages come from (``process.stdout``, stdin, memory).
        send_stream: where messages go; omit it when ``receive_stream`` is bidirectional.
        max_line_bytes: longer incoming lines are answered with an error and skipped.
        request_timeout: default timeout of outgoing calls in seconds (None: wait forever).
        max_concurrent_requests: incoming requests handled at once before reading pauses.
        max_queued_notifications: notifications waiting for the worker before reading pauses.
        max_queued_writes: outgoing lines queued before senders wait.
    """

    def __init__(
        self,
        receive_stream: ByteReceiveStream,
        send_stream: ByteSendStream | None = None,
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        request_timeout: float | None = 30.0,
        max_concurrent_requests: int = 64,
        max_queued_notifications: int = 256,
        max_queued_writes: int = 1024,
    ) -> None:
        if send_stream is None:
            if not isinstance(receive_stream, ByteStream):
                raise TypeError("send_stream is required unless receive_stream is bidirectional")
            send_stream = receive_stream
        self._dispatcher = Dispatcher(
            LineReader(receive_stream, max_line_bytes),
            LineWriter(send_stream, max_queued_writes),
            request_timeout=request_timeout,
            max_concurrent_requests=max_concurrent_requests,
            max_queued_notifications=max_queued_notifications,
        )
        self._context: AsyncExitStack | None = None

    @property
    def state(self) -> DispatcherState:
        """Lifecycle state: new, running, closing or closed (never back)."""
        return self._dispatcher.state

    @overload
    def method(
        self, name: str, params_type: type[ParamsModel]
    ) -> Callable[[Callable[[ParamsModel], Result]], Callable[[ParamsModel], Result]]: ...
    @overload
    def method(
        self, name: str, params_type: None = None
    ) -> Callable[[_AnyHandler], _AnyHandler]: ...
    def method(self, name: str, params_type: type[BaseModel] | None = None) -> Any:
        """Decorator registering the handler of requests named ``name``.

        With ``params_type`` the handler receives validated params (invalid
        params are answered with ``-32602``); without, the raw params. The
        handler returns the result: a pydantic model or anything JSON-serialisable.

        An ``async def`` handler runs concurrently with other requests and may be
        cancelled. A plain ``def`` handler runs inline, where the connection is read
        (the task that reads it, or the event loop's read callback, outside any
        task), before the next message is read: the cheapest answer, for quick
        CPU-only work only (no I/O, no blocking, no waiting), since nothing else on
        the connection moves while it runs. Errors are answered the same either way.
        """

        def register(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
            if not iscoroutinefunction(handler):
                self._register_sync(name, params_type, handler)
                return handler
            # Registering a name again replaces the previous handler, whichever its kind.
            self._dispatcher.sync_request_handlers.pop(name, None)
            if params_type is None:

                async def raw(params: wire.Params) -> Any:
                    return _to_wire(await handler(params))

                self._dispatcher.request_handlers[name] = raw
            else:

                async def typed(params: wire.Params) -> Any:
                    return _to_wire(await handler(_validate_params(params_type, params)))

                self._dispatcher.request_handlers[name] = typed
            return handler

        return register

    def _register_sync(
        self, name: str, params_type: type[BaseModel] | None, handler: Callable[[Any], Any]
    ) -> None:
        self._dispatcher.request_handlers.pop(name, None)
        if params_type is None:

            def raw(params: wire.Params) -> Any:
                # _to_wire inlined, and a plain JSON value let through before isinstance
                # (slow on BaseModel's ABC metaclass): this runs for every message of the
                # fast path.
                result = handler(params)
                if type(result) in _PLAIN_JSON or not isinstance(result, BaseModel):
                    return result
                return result.model_dump(mode="json", by_alias=True)

            self._dispatcher.sync_request_handlers[name] = raw
        else:

            def typed(params: wire.Params) -> Any:
                return _to_wire(handler(_validate_params(params_type, params)))

            self._dispatcher.sync_request_handlers[name] = typed

    @overload
    def notification(
        self, name: str, params_type: type[ParamsModel]
    ) -> Callable[
        [Callable[[ParamsModel], Awaitable[None]]], Callable[[ParamsModel], Awaitable[None]]
    ]: ...
    @overload
    def notification(
        self, name: str, params_type: None = None
    ) -> Callable[[_RawHandler], _RawHandler]: ...
    def notification(self, name: str, params_type: type[BaseModel] | None = None) -> Any:
        """Decorator registering the handler of notifications named ``name``.

        Notifications are handled one at a time in arrival order; invalid
        params are logged (there is nobody to answer).
        """

        def register(handler: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
            async def handle(params: wire.Params) -> None:
                await handler(
                    params if params_type is None else _validate_params(params_type, params)
                )

            self._dispatcher.notification_handlers[name] = handle
            return handler

        return register

    def set_request_guard(self, guard: RequestGuard | None) -> None:
        """Install a check run before every incoming request; it refuses by raising RpcError."""
        self._dispatcher.request_guard = guard

    @asynccontextmanager
    async def run(self) -> AsyncIterator[Endpoint]:
        """Serve in the background for the duration of the ``async with`` block.

        Leaving the block closes the endpoint: in-flight incoming requests are
        cancelled, queued output is flushed and the send stream is closed.

        Raises:
            EndpointStateError: the endpoint already ran; endpoints do not reopen.
        """
        if self.state is not DispatcherState.NEW:
            raise EndpointStateError(f"cannot run an endpoint that is {self.state.value}")
        async with anyio.create_task_group() as group:
            await group.start(self._dispatcher.run)
            try:
                yield self
            finally:
                self._dispatcher.request_close()

    async def serve_forever(self) -> None:
        """Serve until end of input or :meth:`close`."""
        await self._dispatcher.run()

    def close(self) -> None:
        """Ask the endpoint to close (returns at once; see :meth:`wait_closed`)."""
        self._dispatcher.request_close()

    async def wait_closed(self) -> None:
        """Wait until the endpoint has closed (end of input, :meth:`close`, or the block left)."""
        await self._dispatcher.wait_closed()

    async def __aenter__(self) -> Endpoint:
        if self._context is not None:
            raise EndpointStateError("the endpoint is already entered")
        context = AsyncExitStack()
        await context.enter_async_context(self.run())
        self._context = context
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._context is not None
        return await self._context.__aexit__(exc_type, exc, traceback)

    @overload
    async def call(
        self,
        method: str,
        params: ParamsLike = None,
        *,
        result_type: type[Result],
        timeout: float | None = None,  # noqa: ASYNC109 - per-call override of the default
    ) -> Result: ...
    @overload
    async def call(
        self,
        method: str,
        params: ParamsLike = None,
        *,
        result_type: None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per-call override of the default
    ) -> Any: ...
    async def call(
        self,
        method: str,
        params: ParamsLike = None,
        *,
        result_type: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per-call override of the default
    ) -> Any:
        """Call ``method`` on the peer and return its result.

        Args:
            method: the method name.
            params: a pydantic model (dumped by alias), a mapping, a sequence or None.
            result_type: validate the result as this type (a model or any pydantic-able type).
            timeout: seconds to wait; None for the endpoint's default, ``math.inf`` for none.

        Raises:
            RemoteError: the peer answered with an error object.
            RequestTimeoutError: no answer in time (the peer was sent ``$/cancelRequest``).
            ConnectionClosedError: the connection is or became closed.
            InvalidResultError: the result does not match ``result_type``.
        """
        result = await self._dispatcher.call(method, _params_to_wire(params), timeout)
        if result_type is None:
            return result
        try:
            return _adapter(result_type).validate_python(result)
        except ValidationError as exc:
            raise InvalidResultError(f"unexpected result of {method!r}: {exc}") from None

    async def notify(self, method: str, params: ParamsLike = None) -> None:
        """Send a notification to the peer.

        Raises:
            ConnectionClosedError: the connection is closed.
        """
        await self._dispatcher.notify(method, _params_to_wire(params))
