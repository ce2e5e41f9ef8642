"""Byte streams over raw file descriptors (stdin/stdout), for any anyio backend.

The descriptors are switched to non-blocking mode; a read or write that would
block waits for readiness with :func:`anyio.wait_readable` /
:func:`anyio.wait_writable` instead of parking a worker thread, so no thread is
involved per message. On the asyncio backend the loop itself reads instead
(:mod:`.aiopipe`: a reader callback that stays registered on the stock loop, the
pipe transport on uvloop), rather than registering the descriptor for every
wait. Reads are at most
:data:`~.aiopipe.READ_SIZE` bytes, small enough not to be ``mmap``-ed. Writes go straight to
``os.write``: a reply costs one system call and waits only when the pipe is full.
Both sides also work from synchronous code on the loop: a receive stream hands
reads to an interceptor (:meth:`FdReceiveStream.set_interceptor`), a send stream
writes what the pipe takes at once (:meth:`FdSendStream.send_nowait`).
The original blocking mode is restored on close because the open file
description may be shared with the parent (a terminal, a shell).
"""

from __future__ import annotations

import contextlib
import os

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

from opencode_orchestrator.jsonrpc.aiopipe import (
    READ_SIZE,
    BufferedReader,
    Interceptor,
    open_pipe_reader,
)

__all__ = ["FdReceiveStream", "FdSendStream"]


class _FdStream:
    def __init__(self, fd: int, *, close_fd: bool) -> None:
        self._fd = fd
        self._close_fd = close_fd
        self._was_blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)
        self._closed = False

    def fileno(self) -> int:
        """The wrapped file descriptor."""
        return self._fd

    def _check_open(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Already closed by someone else: then there is nothing left to restore.
        with contextlib.suppress(OSError):
            os.set_blocking(self._fd, self._was_blocking)
        if self._close_fd:
            os.close(self._fd)


class FdReceiveStream(_FdStream, ByteReceiveStream):
    """Receive bytes from a readable descriptor (a pipe, a terminal, a file)."""

    def __init__(self, fd: int, *, close_fd: bool = False) -> None:
        super().__init__(fd, close_fd=close_fd)
        # Attached at the first receive, when the running loop (and backend) is known.
        self._pipe: BufferedReader | None = None
        self._pipe_tried = False
        self._interceptor: Interceptor | None = None

    def set_interceptor(self, interceptor: Interceptor | None) -> None:
        """Offer reads to ``interceptor`` in the loop's read callback (see :mod:`.aiopipe`).

        Only where the loop itself reads (asyncio, a pipe or a socket); elsewhere
        every read goes to :meth:`receive` as before. It is offered a read only
        while a :meth:`receive` waits with nothing buffered, and what it returns is
        what that :meth:`receive` gets. None stops it.
        """
        self._interceptor = interceptor
        if self._pipe is not None:
            self._pipe.interceptor = interceptor

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Read up to ``max_bytes``; raise :class:`anyio.EndOfStream` at end of input."""
        if self._pipe is not None:
            if self._closed:  # _check_open inlined: this runs for every read
                raise anyio.ClosedResourceError
            return await self._pipe.receive(max_bytes)
        if not self._pipe_tried:
            self._check_open()
            self._pipe_tried = True
            self._pipe = await open_pipe_reader(self._fd)
            if self._pipe is not None:
                self._pipe.interceptor = self._interceptor
                return await self._pipe.receive(max_bytes)
        while True:
            self._check_open()
            try:
                data = os.read(self._fd, min(max_bytes, READ_SIZE))
            except BlockingIOError:
                await anyio.wait_readable(self._fd)
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            if not data:
                raise anyio.EndOfStream
            return data

    async def aclose(self) -> None:
        """Restore the blocking mode and close the descriptor if owned."""
        if self._pipe is not None:
            # Lets go of the descriptor before it is put back in blocking mode.
            await self._pipe.aclose()
        self._close()


class FdSendStream(_FdStream, ByteSendStream):
    """Send bytes to a writable descriptor, handling partial writes."""

    def __init__(self, fd: int, *, close_fd: bool = False) -> None:
        super().__init__(fd, close_fd=close_fd)

    async def send(self, item: bytes) -> None:
        """Write all of ``item``; raise :class:`anyio.BrokenResourceError` if the reader left."""
        if not item:
            return
        written = self.send_nowait(item)
        if written == len(item):  # the common case: no view, no loop
            return
        view = memoryview(item)[written:]
        while view:
            self._check_open()
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                await anyio.wait_writable(self._fd)
                continue
            except OSError as exc:  # BrokenPipeError above all
                raise anyio.BrokenResourceError from exc
            view = view[written:]

    def send_nowait(self, item: bytes) -> int:
        """Write what the descriptor takes now, without waiting; return how many bytes.

        Raises:
            anyio.ClosedResourceError: the stream was closed.
            anyio.BrokenResourceError: the reader left.
        """
        self._check_open()
        try:
            return os.write(self._fd, item)
        except BlockingIOError:
            return 0
        except OSError as exc:  # BrokenPipeError above all
            raise anyio.BrokenResourceError from exc

    async def aclose(self) -> None:
        """Restore the blocking mode and close the descriptor if owned."""
        self._close()
