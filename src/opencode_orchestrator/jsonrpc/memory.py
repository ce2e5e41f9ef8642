"""In-memory byte streams, for tests and for embedding an endpoint in-process."""

from __future__ import annotations

import anyio
from anyio.abc import ByteStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["MemoryByteStream", "memory_stream_pair"]


class MemoryByteStream(ByteStream):
    """One end of an in-memory, bidirectional byte connection with bounded buffering."""

    def __init__(
        self, outgoing: MemoryObjectSendStream[bytes], incoming: MemoryObjectReceiveStream[bytes]
    ) -> None:
        self._outgoing = outgoing
        self._incoming = incoming
        self._leftover = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Receive up to ``max_bytes``; :class:`anyio.EndOfStream` once the peer sent EOF."""
        if not self._leftover:
            self._leftover = await self._incoming.receive()
        data, self._leftover = self._leftover[:max_bytes], self._leftover[max_bytes:]
        return data

    async def send(self, item: bytes) -> None:
        """Send ``item``, waiting while the peer's buffer is full."""
        if item:
            await self._outgoing.send(bytes(item))

    async def send_eof(self) -> None:
        """Close the sending direction: the peer's reads end with EOF."""
        self._outgoing.close()

    async def aclose(self) -> None:
        """Close both directions."""
        self._outgoing.close()
        self._incoming.close()


def memory_stream_pair(max_chunks: int = 64) -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected in-memory byte streams: what one sends, the other receives.

    Each direction buffers at most ``max_chunks`` sends; further sends wait, so
    backpressure behaves as over a pipe.
    """
    a_to_b_send, a_to_b_receive = anyio.create_memory_object_stream[bytes](max_chunks)
    b_to_a_send, b_to_a_receive = anyio.create_memory_object_stream[bytes](max_chunks)
    return MemoryByteStream(a_to_b_send, b_to_a_receive), MemoryByteStream(
        b_to_a_send, a_to_b_receive
    )
