"""NDJSON transport: one message per line over any anyio byte stream.

:class:`LineReader` splits incoming bytes into lines. A line longer than the
limit is never buffered whole: the reader reports :data:`OVERSIZED` as soon as
the limit is crossed, drops bytes until the next newline, and resumes there, so
the stream stays in sync.

:class:`LineWriter` queues encoded lines in a bounded queue (senders wait when
it is full) and writes everything queued so far with one ``send`` per wake-up,
so a burst of replies costs one write system call, not one per message.
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import Final, Literal, TypeAlias

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from opencode_orchestrator.jsonrpc.errors import ConnectionClosedError

__all__ = ["DEFAULT_MAX_LINE_BYTES", "OVERSIZED", "LineReader", "LineWriter", "ReadItem"]

DEFAULT_MAX_LINE_BYTES: Final = 16 * 2**20
_CHUNK: Final = 256 * 1024


class _Oversized(Enum):
    OVERSIZED = "oversized"


OVERSIZED: Final = _Oversized.OVERSIZED
"""Yielded by :class:`LineReader` in place of a line longer than the limit."""

ReadItem: TypeAlias = bytes | Literal[_Oversized.OVERSIZED]


class LineReader:
    """Split a byte stream into lines; blank lines are skipped."""

    def __init__(
        self, stream: ByteReceiveStream, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self._stream = stream
        self._max = max_line_bytes
        self._partial = bytearray()
        self._ready: deque[ReadItem] = deque()
        self._discarding = False
        self._eof = False

    def __aiter__(self) -> LineReader:
        return self

    async def __anext__(self) -> ReadItem:
        while not self._ready:
            if self._eof:
                raise StopAsyncIteration
            try:
                chunk = await self._stream.receive(_CHUNK)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._finish()
            else:
                self._feed(chunk)
        return self._ready.popleft()

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self._stream.aclose()

    def _feed(self, chunk: bytes) -> None:
        newline = chunk.find(b"\n")
        if newline < 0:
            if not self._discarding:
                self._partial += chunk
                self._check_partial()
            return
        if self._discarding:
            self._discarding = False
        else:
            self._partial += chunk[:newline]
            self._emit(bytes(self._partial))
        self._partial.clear()
        # Only the new chunk is scanned, so a long line arriving in many chunks costs O(n).
        *complete, rest = chunk[newline + 1 :].split(b"\n")
        for line in complete:
            self._emit(line)
        self._partial += rest
        self._check_partial()

    def _check_partial(self) -> None:
        if len(self._partial) > self._max:
            self._partial.clear()
            self._discarding = True
            self._ready.append(OVERSIZED)

    def _emit(self, line: bytes) -> None:
        if len(line) > self._max:
            self._ready.append(OVERSIZED)
        elif line and not line.isspace():
            self._ready.append(line)

    def _finish(self) -> None:
        self._eof = True
        if not self._discarding:
            # A last line without its newline is still a message.
            self._emit(bytes(self._partial))
        self._partial.clear()


class LineWriter:
    """Coalescing writer of encoded lines with a bounded queue.

    :meth:`open` it, then :meth:`run` it in a task for lines to be written. :meth:`close` stops
    accepting lines; :meth:`run` then writes what is queued, closes the stream
    and returns.
    """

    def __init__(self, stream: ByteSendStream, max_queued: int = 1024) -> None:
        self._stream = stream
        self._max_queued = max_queued
        # Created by open(): an unopened writer then holds nothing that must be closed.
        self._send: MemoryObjectSendStream[bytes] | None = None
        self._receive: MemoryObjectReceiveStream[bytes] | None = None
        self._broken = False

    def open(self) -> None:
        """Start accepting lines (call once, before :meth:`run`)."""
        if self._send is not None:
            raise RuntimeError("a LineWriter opens only once")
        self._send, self._receive = anyio.create_memory_object_stream[bytes](self._max_queued)

    @property
    def broken(self) -> bool:
        """True once a write failed (the peer went away); later lines are dropped."""
        return self._broken

    async def send(self, line: bytes) -> None:
        """Queue one encoded line, waiting while the queue is full.

        Raises:
            ConnectionClosedError: the writer is closed or the stream broke.
        """
        if self._broken or self._send is None:
            raise ConnectionClosedError("the output stream is broken or not open")
        try:
            # Queue without yielding when there is room, so that replies produced in the
            # same loop iteration are all queued before the writer wakes up and writes.
            self._send.send_nowait(line)
        except anyio.WouldBlock:
            try:
                await self._send.send(line)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                raise ConnectionClosedError("the output stream is closed") from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise ConnectionClosedError("the output stream is closed") from None

    def send_nowait(self, line: bytes) -> bool:
        """Queue a line if there is room now; False when it was dropped."""
        if self._broken or self._send is None:
            return False
        try:
            self._send.send_nowait(line)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        return True

    def close(self) -> None:
        """Accept no more lines; :meth:`run` drains the queue and returns."""
        if self._send is not None:
            self._send.close()

    def discard(self) -> None:
        """Close the queue without writing (for a writer that will never run)."""
        if self._send is not None and self._receive is not None:
            self._send.close()
            self._receive.close()

    async def run(self) -> None:
        """Write queued lines until closed, then close the stream.

        Raises:
            anyio.BrokenResourceError: the stream broke (the writer is then ``broken``).
        """
        if self._receive is None:
            raise RuntimeError("open() the LineWriter before running it")
        receive = self._receive
        try:
            async for first in receive:
                batch = [first]
                while True:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                try:
                    await self._stream.send(first if len(batch) == 1 else b"".join(batch))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    self._broken = True
                    raise anyio.BrokenResourceError from None
        finally:
            self.discard()
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await self._stream.aclose()
