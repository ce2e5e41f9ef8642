from __future__ import annotations

import itertools

import anyio
import pytest
from anyio.abc import ByteSendStream
from hypothesis import given, settings
from hypothesis import strategies as st

from opencode_orchestrator import runtime
from opencode_orchestrator.jsonrpc import ConnectionClosedError, memory_stream_pair
from opencode_orchestrator.jsonrpc.framing import OVERSIZED, LineReader, ReadItem
from opencode_orchestrator.jsonrpc.writer import LineWriter

pytestmark = pytest.mark.anyio


async def _read_all(chunks: list[bytes], max_line_bytes: int = 1024) -> list[ReadItem]:
    a, b = memory_stream_pair(max_chunks=len(chunks) + 1)
    for chunk in chunks:
        await a.send(chunk)
    await a.send_eof()
    items = [item async for item in LineReader(b, max_line_bytes)]
    await a.aclose()
    await b.aclose()
    return items


async def test_lines_split_across_and_within_chunks() -> None:
    items = await _read_all([b'{"a":', b"1}\n{}\n\n  \r\n[1", b"]\r\n", b"tail"])
    assert items == [b'{"a":1}', b"{}", b"[1]\r", b"tail"]


async def test_oversized_line_is_reported_once_and_the_reader_resyncs() -> None:
    big = [b"x" * 100 for _ in range(50)]  # 5000 bytes without a newline
    items = await _read_all([b"ok\n", *big, b"still big\nnext\n", b"y" * 20 + b"\n"], 64)
    assert items == [b"ok", OVERSIZED, b"next", b"y" * 20]


async def test_oversized_line_within_one_chunk() -> None:
    items = await _read_all([b"a" * 65 + b"\n" + b"b" * 64 + b"\n"], 64)
    assert items == [OVERSIZED, b"b" * 64]


async def test_oversized_line_is_never_buffered_whole() -> None:
    reader_side, writer_side = memory_stream_pair()
    reader = LineReader(reader_side, 1000)

    async def feed() -> None:
        for _ in range(1000):  # 1 MB in 1 kB chunks, no newline
            await writer_side.send(b"z" * 1000)
        await writer_side.send(b"\nafter\n")

    async with anyio.create_task_group() as tg:
        tg.start_soon(feed)
        assert await reader.__anext__() is OVERSIZED
        assert await reader.__anext__() == b"after"
    assert len(reader._partial) <= 1000
    await reader_side.aclose()
    await writer_side.aclose()


class RecordingStream(ByteSendStream):
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    async def send(self, item: bytes) -> None:
        self.writes.append(item)

    async def send_eof(self) -> None:  # pragma: no cover - not a bidirectional stream
        raise NotImplementedError

    async def aclose(self) -> None:
        self.closed = True


async def test_writer_coalesces_queued_lines_into_one_write() -> None:
    stream = RecordingStream()
    writer = LineWriter(stream, max_queued=100)
    writer.open()
    for i in range(50):
        await writer.send(b"%d\n" % i)
    writer.close()
    await writer.run()
    assert stream.writes == [b"".join(b"%d\n" % i for i in range(50))]
    assert stream.closed


async def test_writer_queue_is_bounded_and_closed_writer_refuses() -> None:
    writer = LineWriter(RecordingStream(), max_queued=2)
    assert not writer.send_nowait(b"0\n")  # not open yet
    writer.open()
    assert writer.send_nowait(b"1\n")
    assert writer.send_nowait(b"2\n")
    assert not writer.send_nowait(b"3\n")
    writer.close()
    with pytest.raises(ConnectionClosedError):
        await writer.send(b"4\n")
    writer.discard()


class BrokenStream(RecordingStream):
    async def send(self, item: bytes) -> None:
        raise anyio.BrokenResourceError


async def test_writer_marks_itself_broken_when_the_peer_leaves() -> None:
    writer = LineWriter(BrokenStream())
    writer.open()
    await writer.send(b"1\n")
    with pytest.raises(anyio.BrokenResourceError):
        await writer.run()
    assert writer.broken
    with pytest.raises(ConnectionClosedError):
        await writer.send(b"2\n")


_line = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"").strip() or b"x")


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(_line, max_size=30), cuts=st.lists(st.integers(0, 2000), max_size=40))
def test_any_chunking_yields_exactly_the_lines(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points) if b > a]
    items = runtime.run(_read_all, chunks, 1024)
    assert items == lines


_raw_line = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b""))
_blank_line = st.sampled_from([b"", b" ", b"\r", b"\t  ", b"\x0b\x0c"])


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(_raw_line | _blank_line, max_size=30),
    cuts=st.lists(st.integers(0, 2000), max_size=40),
)
def test_blank_and_oversized_lines_among_others(lines: list[bytes], cuts: list[int]) -> None:
    # Whether a read has a blank or a long line decides how it is split: both ways agree.
    stream = b"".join(line + b"\n" for line in lines)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points) if b > a]
    items = runtime.run(_read_all, chunks, 40)
    expected: list[ReadItem] = [
        OVERSIZED if len(line) > 40 else line
        for line in lines
        if len(line) > 40 or (line and not line.isspace())
    ]
    assert items == expected
