"""NDJSON transport: one message per line over any anyio byte stream.

:class:`LineReader` splits incoming bytes into lines. A line longer than the
limit is never buffered whole: the reader reports :data:`OVERSIZED` as soon as
the limit is crossed, drops bytes until the next newline, and resumes there, so
the stream stays in sync. Writing lines is :mod:`.writer`'s.
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import Final, Literal, TypeAlias

import anyio
from anyio.abc import ByteReceiveStream

__all__ = ["DEFAULT_MAX_LINE_BYTES", "OVERSIZED", "LineReader", "ReadItem"]

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
