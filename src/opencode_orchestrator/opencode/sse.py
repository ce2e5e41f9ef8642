"""Server-sent events cut straight out of a response's bytes: the data of each event.

OpenCode writes every event as one ``data: <json>`` line and a blank line
(``{"type": ..., "properties": ...}`` serialised without line breaks). So the
complete events of a chunk are split at once where a blank line is followed by
``data: ``, and a count of the line breaks confirms that shape (calls into C, no
Python loop over lines): no text decoding, no per-line state, and the JSON goes
to the parser as bytes. Whatever else the WHATWG event-stream format allows takes a
slower path that decodes as the spec says: CR and CR LF line ends (also split
across chunks), comments, fields other than ``data`` (ignored: the stream reads
no event names, ids or retry hints), several ``data`` lines joined with a line
feed, a byte order mark at the start. An event whose data is empty is not
returned, and an event the stream ends in the middle of is dropped, as the spec
says.
"""

from __future__ import annotations

__all__ = ["SseDecoder"]

_BOM = b"\xef\xbb\xbf"
_DATA = b"data: "
_NEXT = b"\n\n" + _DATA


class SseDecoder:
    """Incremental decoder: :meth:`feed` it chunks, get the data of each complete event."""

    __slots__ = ("_buffer", "_cr", "_start")

    def __init__(self) -> None:
        self._buffer = b""
        """The unfinished event at the end of what was fed, line ends already LF."""
        self._cr = False
        """The last chunk ended in CR: an LF opening the next one ends no further line."""
        self._start = True
        """Nothing but (part of) a byte order mark has been fed yet."""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of every event that ``chunk`` completes, in order (raw UTF-8 bytes)."""
        if not chunk:
            return []
        if self._cr:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._buffer + chunk if self._buffer else chunk
        if self._start:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._buffer = buffer
                return []
            self._start = False
            if buffer.startswith(_BOM):
                buffer = buffer[len(_BOM) :]
        if b"\r" in buffer:
            # A CR ends its line at once; a LF right after it (perhaps in the next
            # chunk) belongs to the same line end.
            self._cr = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._buffer = buffer
            return []
        self._buffer = buffer[end + 2 :]
        complete = buffer[:end]
        if complete.startswith(_DATA):
            found = complete.split(_NEXT)
            # OpenCode's shape throughout, checked in C: the only line breaks are the
            # pairs that end events, each followed by the next event's "data: ".
            if complete.count(b"\n") == 2 * (len(found) - 1):
                found[0] = found[0][len(_DATA) :]
                return [data for data in found if data] if b"" in found else found
        general: list[bytes] = []
        for frame in complete.split(b"\n\n"):
            data = _data_of(frame)
            if data:
                general.append(data)
        return general


def _data_of(frame: bytes) -> bytes:
    # The general case of one event's lines (the spec's "process the field").
    values: list[bytes] = []
    for line in frame.split(b"\n"):
        # An empty line can only open or close a frame (blank lines around an
        # empty event): the frames were split at every pair of line breaks.
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if name == b"data":
            values.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(values)
