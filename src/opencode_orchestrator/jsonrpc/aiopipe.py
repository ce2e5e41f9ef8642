"""Reading a descriptor from an asyncio reader callback that stays registered.

On the asyncio backend, :func:`anyio.wait_readable` registers the descriptor
with the selector and unregisters it again on every wait: two ``epoll_ctl``
calls, an event and a few task steps per message. Here the descriptor stays
registered with ``loop.add_reader``; the callback reads what is there into a
buffer and wakes the consumer, so a waiting reader costs one future and one
task step.

Not ``loop.connect_read_pipe``: its transport reads 256 KiB at a time, and a
buffer that large is ``mmap``-ed and unmapped by every read, which on the
machines measured cost more than the rest of an echo together. We read
:data:`READ_SIZE` bytes at a time, which the allocator serves from its heap.

Bytes the consumer has not taken yet are buffered up to a limit; above it the
descriptor is unregistered (the kernel pipe then fills and the writer blocks),
which keeps the backpressure of the readiness-based path.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import Final

import anyio

__all__ = ["READ_SIZE", "PipeReader", "open_pipe_reader"]

READ_SIZE: Final = 64 * 1024  # below glibc's mmap threshold: no mmap/munmap per read

_HIGH_WATER: Final = 1 << 20  # bytes buffered before reading pauses
_LOW_WATER: Final = 1 << 18  # reading resumes once the consumer brings it below this


class PipeReader:
    """Buffers what a registered reader callback reads from ``fd``; consume with :meth:`receive`."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        high_water: int = _HIGH_WATER,
        low_water: int = _LOW_WATER,
    ) -> None:
        self._loop = loop
        self._fd = fd
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._high = high_water
        self._low = low_water
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._error: OSError | None = None
        self._registered = False

    @property
    def paused(self) -> bool:
        """True while reading is paused (the consumer lags, or input ended)."""
        return not self._registered

    def start(self) -> None:
        """Register the reader callback.

        Raises:
            OSError: the descriptor cannot be polled (e.g. a regular file: EPERM).
        """
        self._loop.add_reader(self._fd, self._read_ready)
        self._registered = True

    def _unregister(self) -> None:
        if self._registered:
            self._registered = False
            self._loop.remove_reader(self._fd)

    def _read_ready(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._error = exc
            self._unregister()
        else:
            if data:
                self._chunks.append(data)
                self._buffered += len(data)
                if self._buffered > self._high:
                    self._unregister()
            else:
                self._eof = True
                self._unregister()
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def receive(self, max_bytes: int) -> bytes:
        """Return buffered bytes (at most ``max_bytes``), waiting while there are none.

        Raises:
            anyio.EndOfStream: the writer closed its end and everything was read.
            anyio.BrokenResourceError: reading failed.
        """
        while not self._chunks:
            if self._error is not None:
                raise anyio.BrokenResourceError from self._error
            if self._eof:
                raise anyio.EndOfStream
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        data = self._chunks.popleft()
        if len(data) > max_bytes:
            self._chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        self._buffered -= len(data)
        if (
            not self._registered
            and self._buffered <= self._low
            and not self._eof
            and self._error is None
        ):
            self.start()
        return data

    def close(self) -> None:
        """Stop reading and unregister the descriptor (which is left open)."""
        self._unregister()
        self._eof = True
        self._wake()


def open_pipe_reader(fd: int) -> PipeReader | None:
    """Attach a :class:`PipeReader` to ``fd`` on the running asyncio loop.

    Returns None when that is not possible (another backend, or a descriptor
    the selector refuses, such as a regular file): the caller then keeps
    waiting for readiness itself. The descriptor is never closed here.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (trio)
        return None
    reader = PipeReader(loop, fd)
    try:
        reader.start()
    except (OSError, ValueError, NotImplementedError):
        return None
    return reader
