"""NDJSON transport: one message per line over any anyio byte stream.

:class:`LineReader` splits incoming bytes into lines. A line longer than the
limit is never buffered whole: the reader reports :data:`OVERSIZED` as soon as
the limit is crossed, drops bytes until the next newline, and resumes there, so
the stream stays in sync. Writing lines is :mod:`.writer`'s.

Where the stream can hand reads over from the event loop's read callback
(:meth:`~.stdio.FdReceiveStream.set_interceptor`), a consumer may take the
lines of a read right there (:meth:`LineReader.set_consumer`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Final, Literal, Protocol, TypeAlias, runtime_checkable

import anyio
from anyio.abc import ByteReceiveStream

__all__ = ["DEFAULT_MAX_LINE_BYTES", "OVERSIZED", "LineConsumer", "LineReader", "ReadItem"]

DEFAULT_MAX_LINE_BYTES: Final = 16 * 2**20
_CHUNK: Final = 256 * 1024


class _Oversized(Enum):
    OVERSIZED = "oversized"


OVERSIZED: Final = _Oversized.OVERSIZED
"""Yielded by :class:`LineReader` in place of a line longer than the limit."""

ReadItem: TypeAlias = bytes | Literal[_Oversized.OVERSIZED]

LineConsumer: TypeAlias = Callable[[list[bytes]], list[bytes]]
"""Takes the lines of a read in the loop's read callback; returns those it left, in order."""


@runtime_checkable
class _Intercepting(Protocol):
    def set_interceptor(self, interceptor: Callable[[bytes], bytes] | None) -> None: ...


def _without_blanks(lines: list[bytes]) -> list[bytes]:
    # A blank or all-whitespace line starts with a byte up to b" ", and then so does
    # the least line (compared in C): the common read takes no step per line.
    if lines and min(lines)[:1] <= b" ":
        return [line for line in lines if line and not line.isspace()]
    return lines


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
        self._consumer: LineConsumer | None = None

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

    def set_consumer(self, consumer: LineConsumer | None) -> None:
        """Offer reads of whole lines to ``consumer`` as they arrive, where the stream can.

        A read that arrives while :meth:`receive_lines` waits goes to ``consumer``
        in the loop's read callback, as the list of its non-blank lines, unless a
        line of it is partial or too long. The lines ``consumer`` leaves are what
        :meth:`receive_lines` then returns, as if just read. None stops it.
        """
        if isinstance(self._stream, _Intercepting):
            self._consumer = consumer
            self._stream.set_interceptor(None if consumer is None else self._intercept)

    def _intercept(self, data: bytes) -> bytes:
        consumer = self._consumer
        if (
            consumer is None
            or self._partial
            or self._discarding
            or self._ready
            or len(data) > self._max
            or data[-1:] != b"\n"
        ):
            return data
        lines = data.split(b"\n")
        del lines[-1]  # the nothing after the last newline
        left = consumer(_without_blanks(lines))
        return b"\n".join(left) + b"\n" if left else b""

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
        if len(chunk) > self._max:
            # _emit inlined: a read holds hundreds of lines, and a call per line shows.
            ready, limit = self._ready, self._max
            for line in lines:
                if len(line) > limit:
                    ready.append(OVERSIZED)
                elif line and not line.isspace():
                    ready.append(line)
        else:
            self._ready.extend(_without_blanks(lines))  # none is longer than the chunk
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
