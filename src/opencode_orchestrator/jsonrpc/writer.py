"""NDJSON output: encoded lines queued, and written together.

:class:`LineWriter` queues encoded lines in a bounded queue (senders wait when
it is full) and writes everything queued so far with one ``send`` per wake-up,
so a burst of replies costs one write system call, not one per message.
Synchronous code on the loop (the dispatcher answering a read in the loop's read
callback) writes through :meth:`LineWriter.write_nowait` when the stream can
write without waiting (:meth:`~.stdio.FdSendStream.send_nowait`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Protocol, runtime_checkable

import anyio
from anyio.abc import ByteSendStream

from opencode_orchestrator.jsonrpc.errors import ConnectionClosedError

__all__ = ["LineWriter"]


@runtime_checkable
class _NowaitSending(Protocol):
    def send_nowait(self, item: bytes) -> int: ...


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
        self._send_nowait: Callable[[bytes], int] | None = (
            stream.send_nowait if isinstance(stream, _NowaitSending) else None
        )

    @property
    def can_write_nowait(self) -> bool:
        """True when :meth:`write_nowait` may be called: open, idle, and a stream that can."""
        return (
            self._state is _WriterState.OPEN
            and not self._writing
            and not self._queue
            and self._send_nowait is not None
        )

    def write_nowait(self, data: bytes) -> None:
        """Write ``data`` from synchronous code; only when :attr:`can_write_nowait`.

        What the stream does not take at once is queued for :meth:`run` (past the
        queue's bound if need be: it is one entry, and the writer is then busy, so
        nothing else is written this way until it is out). A failed write marks the
        writer broken, as a failed :meth:`send_now` does, and wakes :meth:`run` to end.
        """
        assert self._send_nowait is not None  # can_write_nowait said so
        try:
            written = self._send_nowait(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self._state = _WriterState.BROKEN
            self._wake_writer()
            return
        if written < len(data):
            self._queue.append(data[written:])
            self._wake_writer()

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
