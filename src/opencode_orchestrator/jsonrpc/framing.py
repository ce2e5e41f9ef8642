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
        await self._fill()
        if not self._ready:
            raise StopAsyncIteration
        return self._ready.popleft()

    async def receive_lines(self) -> deque[ReadItem]:
        """Every line complete so far (at least one), waiting for a read if none is; empty at end.

        Handing over a whole read at once lets the caller answer all of it before
        the next read, and write the answers together.
        """
        await self._fill()
        lines, self._ready = self._ready, deque()
        return lines

    async def _fill(self) -> None:
        # Read until at least one line is complete, or the input ended.
        while not self._ready and not self._eof:
            try:
                chunk = await self._stream.receive(_CHUNK)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._finish()
            else:
                self._feed(chunk)

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self._stream.aclose()

    def _feed(self, chunk: bytes) -> None:
        if self._partial or self._discarding:
            # The chunk continues a line: find where it ends. Only the new chunk is
            # scanned, so a long line arriving in many chunks costs O(n).
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
            chunk = chunk[newline + 1 :]
        # A line starts at the start of the chunk (the common read: whole lines).
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if lines:
            if len(chunk) > self._max or min(lines)[:1] <= b" ":
                # _emit inlined: a read holds hundreds of lines, and a call per line shows.
                ready, limit = self._ready, self._max
                for line in lines:
                    if len(line) > limit:
                        ready.append(OVERSIZED)
                    elif line and not line.isspace():
                        ready.append(line)
            else:
                # No line here can be too long (none is longer than the chunk), and none
                # is blank: a blank or all-whitespace line starts with a byte up to b" ",
                # and the least line (compared in C) would. So no step per line.
                self._ready.extend(lines)
        if rest:
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


class _WriterState(Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"
    BROKEN = "broken"


class LineWriter:
    """Coalescing writer of encoded lines with a bounded queue.

    :meth:`open` it, then :meth:`run` it in a task for lines to be written.
    :meth:`close` stops accepting lines; :meth:`run` then writes what is
    queued, closes the stream and returns. Lines queued in the same loop
    iteration leave in one ``send``.
    """

    def __init__(self, stream: ByteSendStream, max_queued: int = 1024) -> None:
        self._stream = stream
        self._max_queued = max_queued
        self._queue: deque[bytes] = deque()
        self._state = _WriterState.NEW
        self._writing = False
        # Plain events rather than a memory stream: waking the writer or a blocked
        # sender then costs one task step, not a checkpoint plus a wake-up.
        self._wakeup: anyio.Event | None = None
        self._space: anyio.Event | None = None

    @property
    def broken(self) -> bool:
        """True once a write failed (the peer went away); later lines are refused."""
        return self._state is _WriterState.BROKEN

    def open(self) -> None:
        """Start accepting lines (once, before :meth:`run`)."""
        if self._state is not _WriterState.NEW:
            raise RuntimeError(f"cannot open a LineWriter that is {self._state.value}")
        self._state = _WriterState.OPEN

    def _check_open(self) -> None:
        if self._state is not _WriterState.OPEN:
            raise ConnectionClosedError(f"the output stream is {self._state.value}")

    def _wake_writer(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def _wake_senders(self) -> None:
        if self._space is not None:
            self._space.set()
            self._space = None

    async def send(self, line: bytes) -> None:
        """Queue one encoded line, waiting while the queue is full.

        Raises:
            ConnectionClosedError: the writer is closed or the stream broke.
        """
        self._check_open()
        while len(self._queue) >= self._max_queued:
            if self._space is None:
                self._space = anyio.Event()
            await self._space.wait()
            self._check_open()
        self._queue.append(line)
        self._wake_writer()

    async def send_now(self, line: bytes) -> None:
        """Write ``line`` from the calling task when nothing else is queued or being written.

        For a reply that nothing could be coalesced with, this saves waking the
        writer task; otherwise it queues like :meth:`send`.

        Raises:
            ConnectionClosedError: the writer is closed or the stream broke.
        """
        if self._writing or self._queue:
            await self.send(line)
            return
        self._check_open()
        self._writing = True
        try:
            await self._stream.send(line)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self._state = _WriterState.BROKEN
            raise ConnectionClosedError("the output stream broke") from None
        finally:
            self._writing = False
            # Wake the writer only if it has something to do: lines queued meanwhile, or
            # closing (it waits for this write before closing the stream).
            if self._queue or self._state is not _WriterState.OPEN:
                self._wake_writer()

    def send_nowait(self, line: bytes) -> bool:
        """Queue a line if there is room now; False when it was dropped."""
        if self._state is not _WriterState.OPEN or len(self._queue) >= self._max_queued:
            return False
        self._queue.append(line)
        self._wake_writer()
        return True

    def close(self) -> None:
        """Accept no more lines; :meth:`run` drains the queue and returns."""
        if self._state in (_WriterState.NEW, _WriterState.OPEN):
            self._state = _WriterState.CLOSED
        self._wake_writer()
        self._wake_senders()

    def discard(self) -> None:
        """Close and drop whatever is still queued."""
        self.close()
        self._queue.clear()

    async def run(self) -> None:
        """Write queued lines until closed, then close the stream.

        Raises:
            RuntimeError: the writer was not opened.
            anyio.BrokenResourceError: the stream broke (the writer is then ``broken``).
        """
        if self._state is _WriterState.NEW:
            raise RuntimeError("open() the LineWriter before running it")
        try:
            while (
                self._state is _WriterState.OPEN
                or self._writing
                or (self._queue and not self.broken)
            ):
                if not self._queue or self._writing:
                    self._wakeup = anyio.Event()
                    await self._wakeup.wait()
                    continue
                batch = b"".join(self._queue) if len(self._queue) > 1 else self._queue[0]
                self._queue.clear()
                self._wake_senders()
                self._writing = True
                try:
                    await self._stream.send(batch)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    self._state = _WriterState.BROKEN
                    raise anyio.BrokenResourceError from None
                finally:
                    self._writing = False
        finally:
            self.discard()
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await self._stream.aclose()
