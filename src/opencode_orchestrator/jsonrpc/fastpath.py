"""Admission of incoming requests, and the fast path of the common one.

Almost every message a server reads is a single well-formed request to a
synchronous (inline) handler: ``echo``, a status query.
:meth:`FastPath.answer_many` takes the lines of a read, one such line after
another, from their bytes to the bytes of their replies without building any
intermediate object (no :class:`~.messages.Request`, no response dict handed
around, no second pass over the message). The first line it cannot answer it
returns classified, exactly as :func:`~.messages.parse_line` would, for the
general path of the dispatcher: batches, notifications, responses, invalid
messages, requests to async handlers, and requests a check may refuse (a
duplicate id).

:meth:`FastPath.answer_read` does the same where a read arrives, in the event
loop's read callback, while the dispatcher's read loop waits for input: then
the read loop is not even woken for a read that is all inline requests.

The fast path decides nothing the general path would decide differently: it
checks the same envelope rules, runs the same admission checks in the same
order (:meth:`FastPath.refusal`), maps handler outcomes the same way
(:func:`~.replies.failure_response`) and encodes the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final, TypeAlias

import orjson

from opencode_orchestrator.jsonrpc import messages as wire
from opencode_orchestrator.jsonrpc.errors import ErrorCode, RpcError
from opencode_orchestrator.jsonrpc.framing import OVERSIZED, ReadItem
from opencode_orchestrator.jsonrpc.replies import SyncRequestHandler, encode_reply, failure_response
from opencode_orchestrator.jsonrpc.writer import LineWriter

__all__ = ["FastPath", "RequestGuard"]

RequestGuard: TypeAlias = Callable[[str], None]

_SHUTTING_DOWN: Final = {"code": ErrorCode.SHUTTING_DOWN, "message": "shutting down"}
_NOT_FOUND: Final = {"code": ErrorCode.METHOD_NOT_FOUND, "message": "method not found"}
_DUPLICATE: Final = {"code": ErrorCode.INVALID_REQUEST, "message": "duplicate request id"}
_TOO_LARGE: Final = {"code": ErrorCode.MESSAGE_TOO_LARGE, "message": "line too long"}
_TOO_LARGE_LINE: Final = wire.encode(wire.error_response(None, _TOO_LARGE))

# Bound once: module attribute lookups on every message add up at this rate.
_loads = orjson.loads
_dumps = orjson.dumps
_JSONDecodeError = orjson.JSONDecodeError
_NEWLINE: Final = orjson.OPT_APPEND_NEWLINE
_VERSION: Final = wire.JSONRPC_VERSION


class FastPath:
    """Decides whether incoming requests are admitted, and answers the common one inline.

    The dispatcher shares its handler tables and its table of running requests
    with this object, and keeps :attr:`accepting` true exactly while it runs.
    """

    __slots__ = ("_request_handlers", "_running", "_sync_handlers", "accepting", "guard")

    def __init__(
        self,
        request_handlers: dict[str, Any],
        sync_handlers: dict[str, SyncRequestHandler],
        running: dict[wire.RequestId, Any],
    ) -> None:
        self._request_handlers = request_handlers
        self._sync_handlers = sync_handlers
        self._running = running
        self.accepting = False
        self.guard: RequestGuard | None = None

    def refusal(self, request_id: wire.RequestId, method: str) -> dict[str, Any] | None:
        """The error object refusing this request, or None to admit it."""
        if not self.accepting:
            return _SHUTTING_DOWN
        if self.guard is not None:
            try:
                self.guard(method)
            except RpcError as exc:
                return exc.to_error_object()
        if method not in self._request_handlers and method not in self._sync_handlers:
            return _NOT_FOUND
        if request_id in self._running:
            return _DUPLICATE
        return None

    def answer(self, line: bytes) -> bytes | wire.Incoming | wire.Batch:
        """The encoded reply of a well-formed inline request; anything else, classified."""
        out = bytearray()
        rest = self.answer_many(iter((line,)), out)
        return bytes(out) if rest is None else rest

    def answer_many(
        self, lines: Iterator[ReadItem], out: bytearray
    ) -> wire.Incoming | wire.Batch | None:
        """Answer lines in order until one needs the general path; return it classified.

        The reply of every line answered here (an inline request, or an oversized
        line's error) is added to ``out``. None means ``lines`` ran out. The caller
        resumes with the same iterator once it dispatched what was returned.

        One call handles a whole read: a loop here costs a fraction of a call per
        line, and what does not change while it runs is looked up once. Nothing in
        it awaits, so no other task can change whether requests are accepted.

        Replies are copied into ``out`` as they are made, not kept as separate
        bytes: orjson allocates each in a 4 KiB block it then shrinks, so a read's
        worth of live replies spread over the heap, and glibc gave the emptied top
        of the heap back after every write only to fault it in again on the next
        read (in most server processes: about 0.8 page faults a message).
        """
        handlers = self._sync_handlers
        running = self._running
        accepting = self.accepting
        for line in lines:
            if line is OVERSIZED:
                out += _TOO_LARGE_LINE
                continue
            try:
                obj = _loads(line)
            except _JSONDecodeError:
                return wire.parse_line(line)  # the parse error, worded as everywhere else
            try:
                # Subscripts, cheaper than get(): a member missing (a notification, a
                # response) raises KeyError, a value that is not an object or an
                # unhashable method TypeError, and the line goes the general way.
                method: Any = obj["method"]
                handler = handlers.get(method)  # only a str can equal a handler's name
                request_id = obj["id"]
                version = obj["jsonrpc"]
            except (KeyError, TypeError):
                return wire.classify(obj)
            params = obj.get("params")
            if (
                handler is None
                or version != _VERSION
                or not (type(request_id) is int or type(request_id) is str)
                or not (params is None or type(params) is dict or type(params) is list)
                # Refusals the guard does not give go the general way (rare, and ordered there).
                or not accepting
                or request_id in running
            ):
                return wire.classify(obj)
            # Read for every line: a handler may install another guard.
            guard = self.guard
            if guard is not None:
                try:
                    guard(method)
                except RpcError as exc:
                    out += encode_reply(wire.error_response(request_id, exc.to_error_object()))
                    continue
            try:
                result = handler(params)
            except Exception:  # noqa: BLE001 - answered as the general path answers it
                out += encode_reply(failure_response(request_id, method))
                continue
            reply = {"jsonrpc": _VERSION, "id": request_id, "result": result}
            try:
                out += _dumps(reply, option=_NEWLINE)
            except TypeError:
                # Not JSON-serialisable: the general encoder logs it and answers -32603.
                out += encode_reply(wire.result_response(request_id, result))
        return None

    def answer_read(self, lines: list[bytes], writer: LineWriter) -> list[bytes]:
        """Answer a read where it arrives, in the loop's read callback; return the lines left.

        The consumer of :meth:`~.framing.LineReader.set_consumer`, while the read
        loop waits: what :meth:`answer_many` answers is answered here, its replies
        written at once through ``writer``. The lines from the first one the general
        path must take on are left to the read loop (which parses that one again).
        All are left while ``writer`` cannot write at once (it is busy: replies then
        wait their turn in the read loop, and so input waits for output).
        """
        if not writer.can_write_nowait:
            return lines
        out = bytearray()
        pending = iter(lines)
        try:
            answered_all = self.answer_many(pending, out) is None
        except Exception:  # noqa: BLE001 - raised again where the read loop runs that line
            # A guard that failed other than by refusing: a bug. Its line (whose handler
            # did not run) is left to the read loop, which fails on it as it always did.
            answered_all = False
        if out:
            writer.write_nowait(bytes(out))
        if answered_all:
            return []
        return lines[len(lines) - len(list(pending)) - 1 :]
