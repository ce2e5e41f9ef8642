"""Reads answered where they arrive, in the loop's read callback; what is left to the read loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import anyio
import orjson
import pytest
from anyio.abc import ByteReceiveStream, ByteSendStream

from opencode_orchestrator.jsonrpc import (
    Endpoint,
    FdReceiveStream,
    FdSendStream,
    memory_stream_pair,
)
from opencode_orchestrator.jsonrpc.aiopipe import PipeReader
from opencode_orchestrator.jsonrpc.fastpath import FastPath
from opencode_orchestrator.jsonrpc.framing import LineReader
from opencode_orchestrator.jsonrpc.writer import LineWriter

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[{}, {"use_uvloop": True}], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    # Each loop reads its own way (a reader callback, a pipe transport): check both.
    return "asyncio", request.param


async def _until(condition: Callable[[], bool]) -> None:
    # Polls what the loop's reader callback makes true; bounded by fail_after.
    with anyio.fail_after(10):
        while not condition():
            await anyio.lowlevel.checkpoint()


async def test_a_read_is_offered_only_while_a_receive_waits_with_nothing_buffered() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    reader = PipeReader(asyncio.get_running_loop(), read_fd)
    offered: list[bytes] = []

    def intercept(data: bytes) -> bytes:
        offered.append(data)
        return b"" if data.startswith(b"take") else data[1:]

    reader.interceptor = intercept
    reader.start()
    try:
        os.write(write_fd, b"kept: nobody waits")
        await _until(lambda: reader._buffered > 0)
        assert await reader.receive(100) == b"kept: nobody waits"
        assert offered == []
        async with anyio.create_task_group() as tg:
            received: list[bytes] = []

            async def receive() -> None:
                received.append(await reader.receive(100))

            tg.start_soon(receive)
            await _until(lambda: reader._waiter is not None)
            os.write(write_fd, b"take this")
            await _until(lambda: len(offered) == 1)
            assert received == []  # taken whole: the receive still waits
            os.write(write_fd, b"xpartly")
        assert received == [b"partly"]  # what the interceptor left
        assert offered == [b"take this", b"xpartly"]
    finally:
        reader.close()
        os.close(read_fd)
        os.close(write_fd)


async def test_a_descriptor_stream_hands_its_interceptor_to_the_loops_reader() -> None:
    read_fd, write_fd = os.pipe()
    receiver = FdReceiveStream(read_fd, close_fd=True)
    offered: list[bytes] = []

    def intercept(data: bytes) -> bytes:
        offered.append(data)
        return data.upper()

    receiver.set_interceptor(intercept)  # before the first receive attaches the loop's reader
    try:
        async with anyio.create_task_group() as tg:
            received: list[bytes] = []

            async def receive() -> None:
                received.append(await receiver.receive())

            tg.start_soon(receive)
            await _until(lambda: receiver._pipe is not None and receiver._pipe._waiter is not None)
            os.write(write_fd, b"second")
        assert offered == [b"second"]
        assert received == [b"SECOND"]
    finally:
        os.close(write_fd)
        await receiver.aclose()


async def test_send_nowait_writes_what_the_pipe_takes_and_fails_once_nobody_reads() -> None:
    read_fd, write_fd = os.pipe()
    sender = FdSendStream(write_fd, close_fd=True)
    taken = [sender.send_nowait(b"x" * 4096) for _ in range(1000)]
    assert taken[0] == 4096
    assert taken[-1] == 0  # the pipe is full: nothing taken, no waiting
    os.close(read_fd)
    with pytest.raises(anyio.BrokenResourceError):
        sender.send_nowait(b"lost")
    await sender.aclose()
    with pytest.raises(anyio.ClosedResourceError):
        sender.send_nowait(b"closed")


class _Intercepting(ByteReceiveStream):
    """A receive stream whose reads the test delivers by calling the interceptor."""

    def __init__(self, inner: ByteReceiveStream) -> None:
        self.inner = inner
        self.interceptor: Callable[[bytes], bytes] | None = None

    def set_interceptor(self, interceptor: Callable[[bytes], bytes] | None) -> None:
        self.interceptor = interceptor

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_consumer_gets_the_non_blank_lines_of_whole_line_reads_only() -> None:
    near, far = memory_stream_pair()
    stream = _Intercepting(far)
    reader = LineReader(stream, max_line_bytes=20)
    consumed: list[list[bytes]] = []

    def consume(lines: list[bytes]) -> list[bytes]:
        consumed.append(lines)
        return lines[1:]  # leaves all but the first

    reader.set_consumer(consume)
    intercept = stream.interceptor
    assert intercept is not None
    assert intercept(b"a\n\n  \nb\nc\n") == b"b\nc\n"
    assert intercept(b"d\n") == b""
    assert intercept(b"no newline") == b"no newline"  # a partial line
    assert intercept(b"x" * 30 + b"\n") == b"x" * 30 + b"\n"  # too long
    assert consumed == [[b"a", b"b", b"c"], [b"d"]]
    await near.send(b"partial")
    await near.send(b" line\n")
    assert list(await reader.receive_lines()) == [b"partial line"]
    await near.send(b"half")
    await reader_receive_pending(reader)
    assert intercept(b"rest\n") == b"rest\n"  # a line is partial: not offered
    reader.set_consumer(None)
    assert stream.interceptor is None
    await near.aclose()
    await reader.aclose()


async def reader_receive_pending(reader: LineReader) -> None:
    # Lets the reader take what was sent (a partial line) without waiting for more.
    with anyio.move_on_after(0.05):
        await reader.receive_lines()


class _NowaitStream(ByteSendStream):
    """Takes at most ``room`` bytes at once from send_nowait; everything from send."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.written = bytearray()
        self.broken = False

    def send_nowait(self, item: bytes) -> int:
        if self.broken:
            raise anyio.BrokenResourceError
        taken = item[: self.room]
        self.written += taken
        return len(taken)

    async def send(self, item: bytes) -> None:
        self.written += item

    async def send_eof(self) -> None:  # pragma: no cover - not a bidirectional stream
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


async def test_write_nowait_queues_what_the_stream_did_not_take() -> None:
    stream = _NowaitStream(room=3)
    writer = LineWriter(stream)
    idle = [writer.can_write_nowait]  # not open yet
    writer.open()
    idle.append(writer.can_write_nowait)
    assert idle == [False, True]
    writer.write_nowait(b"abcdef\n")
    assert stream.written == b"abc"
    assert not writer.can_write_nowait  # the rest is queued: the writer is busy
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        await _until(lambda: writer.can_write_nowait)
        writer.close()
    assert stream.written == b"abcdef\n"


async def test_write_nowait_to_a_broken_stream_breaks_the_writer_and_ends_its_run() -> None:
    stream = _NowaitStream(room=100)
    stream.broken = True
    writer = LineWriter(stream)
    writer.open()
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        await anyio.wait_all_tasks_blocked()
        writer.write_nowait(b"lost\n")
    assert writer.broken
    assert not writer.can_write_nowait


def _echo_line(request_id: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":%d,"method":"echo","params":[%d]}' % (request_id, request_id)


async def test_answer_read_answers_up_to_the_first_general_line_and_leaves_the_rest() -> None:
    fast = FastPath({"slow": object()}, {"echo": lambda params: params}, {})
    fast.accepting = True
    stream = _NowaitStream(room=1 << 20)
    writer = LineWriter(stream)
    writer.open()
    lines = [_echo_line(1), b'{"jsonrpc":"2.0","id":2,"method":"slow"}', _echo_line(3)]
    assert fast.answer_read(lines, writer) == lines[1:]
    assert orjson.loads(stream.written) == {"jsonrpc": "2.0", "id": 1, "result": [1]}
    assert fast.answer_read([_echo_line(4)], writer) == []
    writer.write_nowait(b"")  # nothing written: still idle
    writer.close()
    assert fast.answer_read([_echo_line(5)], writer) == [_echo_line(5)]  # cannot write now


async def test_a_guard_failing_by_a_bug_leaves_its_line_to_the_read_loop() -> None:
    def guard(method: str) -> None:
        calls.append(method)
        if len(calls) == 2:
            raise ValueError("a bug")

    calls: list[str] = []
    fast = FastPath({}, {"echo": lambda params: params}, {})
    fast.accepting = True
    fast.guard = guard
    stream = _NowaitStream(room=1 << 20)
    writer = LineWriter(stream)
    writer.open()
    lines = [_echo_line(1), _echo_line(2), _echo_line(3)]
    assert fast.answer_read(lines, writer) == lines[1:]  # where it will fail again
    assert orjson.loads(stream.written)["id"] == 1


async def _exchange(reply_bytes: int, rounds: int) -> list[Any]:
    """Drive an endpoint over real pipes: every request sent first, then the replies read."""
    to_server_r, to_server_w = os.pipe()
    from_server_r, from_server_w = os.pipe()
    endpoint = Endpoint(
        FdReceiveStream(to_server_r, close_fd=True), FdSendStream(from_server_w, close_fd=True)
    )
    seen: list[object] = []
    pad = "p" * reply_bytes

    @endpoint.method("echo")
    def echo(params: Any) -> object:
        return [pad, *params]

    @endpoint.method("later")
    async def later(params: object) -> object:
        return params

    @endpoint.notification("note")
    async def note(params: object) -> None:
        seen.append(params)

    expected: list[Any] = []
    async with endpoint.run():
        client = FdSendStream(to_server_w, close_fd=True)
        replies = FdReceiveStream(from_server_r, close_fd=True)
        # Requests are small (all of them fit in the input pipe) and replies may be
        # large: the output pipe can fill while nobody reads it, and nothing blocks.
        for i in range(rounds):
            read: list[dict[str, Any]] = [
                {"jsonrpc": "2.0", "id": 3 * i, "method": "echo", "params": [i]},
                {"jsonrpc": "2.0", "method": "note", "params": [i]},
                {"jsonrpc": "2.0", "id": 3 * i + 1, "method": "echo", "params": [i]},
            ]
            if i % 7 == 0:
                read.append({"jsonrpc": "2.0", "id": 3 * i + 2, "method": "later", "params": [i]})
            await client.send(b"".join(orjson.dumps(m) + b"\n" for m in read))
            expected += [m["id"] for m in read if "id" in m]
        received = bytearray()
        with anyio.fail_after(20):
            while received.count(b"\n") < len(expected):
                received += await replies.receive()
        await client.aclose()
        await replies.aclose()
    messages = [orjson.loads(line) for line in received.splitlines()]
    assert sorted(m["id"] for m in messages) == sorted(expected)
    assert seen == [[i] for i in range(rounds)]
    return messages


async def test_over_pipes_inline_replies_keep_their_order() -> None:
    messages = await _exchange(reply_bytes=10, rounds=150)
    echoes = [m for m in messages if m["id"] % 3 != 2]
    assert [m["id"] for m in echoes] == sorted(m["id"] for m in echoes)
    assert all(m["result"][1] == m["id"] // 3 for m in echoes)


async def test_over_pipes_a_full_output_pipe_loses_and_reorders_nothing() -> None:
    # 300 replies of 4 KiB: the output pipe fills, an inline write comes up short and
    # its rest waits in the writer, and the reads after it go to the read loop.
    messages = await _exchange(reply_bytes=4096, rounds=150)
    echoes = [m for m in messages if m["id"] % 3 != 2]
    assert [m["id"] for m in echoes] == sorted(m["id"] for m in echoes)
    assert all(m["result"][1] == m["id"] // 3 for m in echoes)
