"""Reading a descriptor on the asyncio loop without a readiness wait per message.

On the asyncio backend, :func:`anyio.wait_readable` registers the descriptor
with the selector and unregisters it again on every wait: two ``epoll_ctl``
calls, an event and a few task steps per message. Here the loop itself keeps
reading into a buffer and wakes the consumer, so a waiting reader costs one
future and one task step. How the loop reads depends on the loop:

* the stock asyncio loop — a reader callback that stays registered with
  ``loop.add_reader`` (:class:`PipeReader`). Not ``loop.connect_read_pipe``:
  that transport reads 256 KiB at a time, and a buffer that large is
  ``mmap``-ed and unmapped by every read, which on the machines measured cost
  more than the rest of an echo together. We read :data:`READ_SIZE` bytes, which
  the allocator serves from its heap.
* uvloop — its own read-pipe transport (:class:`TransportReader`), which reads
  in C into a reused buffer; a Python ``add_reader`` callback is the slower path
  there (measured: about 30 % fewer pipelined messages per second).

Bytes the consumer has not taken yet are buffered up to a limit; above it
reading pauses (the kernel pipe then fills and the writer blocks), which keeps
the backpressure of the readiness-based path.

A read that arrives while the consumer waits, with nothing buffered, may first
go to an :data:`Interceptor`, right in the loop's read callback: what it takes
costs no wake-up of the waiting task at all (the dispatcher answers inline
requests there), and only what it leaves is handed on.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections import deque
from collections.abc import Callable
from typing import Final, TypeAlias, cast

import anyio

__all__ = [
    "READ_SIZE",
    "BufferedReader",
    "Interceptor",
    "PipeReader",
    "TransportReader",
    "open_pipe_reader",
]

READ_SIZE: Final = 64 * 1024  # below glibc's mmap threshold: no mmap/munmap per read

_HIGH_WATER: Final = 1 << 20  # bytes buffered before reading pauses
_LOW_WATER: Final = 1 << 18  # reading resumes once the consumer brings it below this

Interceptor: TypeAlias = Callable[[bytes], bytes]
"""Takes what it can of a read, in the loop's read callback; returns what it left."""


class BufferedReader:
    """What the loop read, buffered for :meth:`receive`; subclasses feed it and pause it."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        high_water: int = _HIGH_WATER,
        low_water: int = _LOW_WATER,
    ) -> None:
        self._loop = loop
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._high = high_water
        self._low = low_water
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._error: OSError | None = None
        self._reading = False
        self.interceptor: Interceptor | None = None

    @property
    def paused(self) -> bool:
        """True while reading is paused (the consumer lags, or input ended)."""
        return not self._reading

    def _pause(self) -> None:
        raise NotImplementedError

    def _resume(self) -> None:
        raise NotImplementedError

    def _feed(self, data: bytes) -> None:
        waiter = self._waiter
        if (
            self.interceptor is not None
            and waiter is not None
            and not waiter.done()  # not a receive being cancelled
            and not self._chunks
        ):
            data = self.interceptor(data)
            if not data:
                return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > self._high and self._reading:
            self._pause()
        self._wake()

    def _end(self, error: OSError | None) -> None:
        if error is None:
            self._eof = True
        else:
            self._error = error
        if self._reading:
            self._pause()
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
            not self._reading
            and self._buffered <= self._low
            and not self._eof
            and self._error is None
        ):
            self._resume()
        return data

    def close(self) -> None:
        """Stop reading; the caller's descriptor is left open."""
        if self._reading:
            self._pause()
        self._eof = True
        self._wake()

    async def aclose(self) -> None:
        """:meth:`close`, returning once the loop no longer holds the descriptor."""
        self.close()


class PipeReader(BufferedReader):
    """Fed by a reader callback kept registered on ``fd`` (the stock asyncio loop)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        high_water: int = _HIGH_WATER,
        low_water: int = _LOW_WATER,
    ) -> None:
        super().__init__(loop, high_water, low_water)
        self._fd = fd

    def start(self) -> None:
        """Register the reader callback.

        Raises:
            OSError: the descriptor cannot be polled (e.g. a regular file: EPERM).
        """
        self._resume()

    def _resume(self) -> None:
        self._loop.add_reader(self._fd, self._read_ready)
        self._reading = True

    def _pause(self) -> None:
        self._reading = False
        self._loop.remove_reader(self._fd)

    def _read_ready(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(exc)
            return
        if data:
            self._feed(data)
        else:
            self._end(None)


class TransportReader(BufferedReader, asyncio.Protocol):
    """Fed by the loop's read-pipe transport over a duplicate of ``fd`` (uvloop)."""

    _transport: asyncio.ReadTransport | None = None
    _lost: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to pause and resume it (uvloop's does not subclass ReadTransport)."""
        self._transport = cast(asyncio.ReadTransport, transport)
        self._lost = self._loop.create_future()
        self._reading = True

    def data_received(self, data: bytes) -> None:
        """Buffer what the transport read."""
        self._feed(data)

    def eof_received(self) -> bool | None:
        """The writer closed its end."""
        self._end(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport closed: end of input, or the error that closed it."""
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if exc is None or isinstance(exc, OSError):
            self._end(exc)
        else:
            self._end(OSError(str(exc)))

    def _pause(self) -> None:
        self._reading = False
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def _resume(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._reading = True
            self._transport.resume_reading()

    def close(self) -> None:
        """Stop reading and close the transport (and with it only the duplicate fd)."""
        super().close()
        if self._transport is not None:
            self._transport.close()

    async def aclose(self) -> None:
        """Close, and wait until the transport has closed its duplicate descriptor.

        Until then the pipe still has a reader, so a writer would not see EPIPE.
        """
        self.close()
        if self._lost is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._lost


async def open_pipe_reader(fd: int) -> BufferedReader | None:
    """Attach the running asyncio loop's reader to ``fd``.

    Returns None when that is not possible (another backend, or a descriptor
    the loop refuses, such as a regular file): the caller then keeps waiting
    for readiness itself. ``fd`` itself is never closed here.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (trio)
        return None
    if type(loop).__module__.startswith("uvloop") and _is_pipe_or_socket(fd):
        return await _open_transport_reader(loop, fd)
    reader = PipeReader(loop, fd)
    try:
        reader.start()
    except (OSError, ValueError, NotImplementedError):
        return None
    return reader


def _is_pipe_or_socket(fd: int) -> bool:
    # libuv aborts the whole process (an assertion, not an exception) when a
    # pipe transport is opened on a regular file: only hand it what it takes.
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def _open_transport_reader(loop: asyncio.AbstractEventLoop, fd: int) -> BufferedReader | None:
    # The transport owns and closes what it is given: give it a duplicate.
    duplicate = os.dup(fd)
    pipe = os.fdopen(duplicate, "rb", buffering=0)
    reader = TransportReader(loop)
    try:
        await loop.connect_read_pipe(lambda: reader, pipe)
    except (OSError, ValueError, NotImplementedError):
        pipe.close()
        return None
    return reader
