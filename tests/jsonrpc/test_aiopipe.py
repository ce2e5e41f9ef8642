"""The asyncio reader of descriptors: buffering, backpressure, end of input, closing."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from opencode_orchestrator.jsonrpc import FdReceiveStream, FdSendStream
from opencode_orchestrator.jsonrpc.aiopipe import READ_SIZE, PipeReader, open_pipe_reader

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[{}, {"use_uvloop": True}], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    # The reader rides on the asyncio loop's own fd watching: check it on the
    # stock loop and on uvloop, which the core runs on.
    return "asyncio", request.param


async def _until(condition: Callable[[], bool]) -> None:
    # Polls a condition the loop's reader callback makes true; bounded by fail_after.
    with anyio.fail_after(10):
        while not condition():
            await anyio.lowlevel.checkpoint()


async def test_reading_pauses_above_the_high_water_mark_and_resumes_when_drained() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    reader = PipeReader(asyncio.get_running_loop(), read_fd, high_water=1000, low_water=100)
    reader.start()
    try:
        os.write(write_fd, b"x" * 1500)
        await _until(lambda: reader.paused)
        # Paused: later bytes stay in the pipe (a writer would block once it is full).
        os.write(write_fd, b"y" * 1500)
        assert await reader.receive(10_000) == b"x" * 1500
        assert not reader.paused  # drained below the low-water mark: reading again
        assert await reader.receive(10_000) == b"y" * 1500
    finally:
        reader.close()
        os.close(read_fd)
        os.close(write_fd)


async def test_receive_returns_at_most_max_bytes_and_keeps_the_rest() -> None:
    read_fd, write_fd = os.pipe()
    receiver = FdReceiveStream(read_fd, close_fd=True)
    os.write(write_fd, b"abcdef")
    os.close(write_fd)
    assert await receiver.receive(4) == b"abcd"
    assert await receiver.receive(4) == b"ef"
    with pytest.raises(anyio.EndOfStream):
        await receiver.receive()
    await receiver.aclose()


async def test_end_of_input_wakes_a_waiting_reader() -> None:
    read_fd, write_fd = os.pipe()
    receiver = FdReceiveStream(read_fd, close_fd=True)
    outcome: list[object] = []

    async def read() -> None:
        try:
            outcome.append(await receiver.receive())
        except anyio.EndOfStream:
            outcome.append("eof")

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await anyio.wait_all_tasks_blocked()
        os.close(write_fd)
    assert outcome == ["eof"]
    await receiver.aclose()


async def test_closing_unregisters_and_restores_blocking_mode() -> None:
    read_fd, write_fd = os.pipe()
    try:
        receiver = FdReceiveStream(read_fd)
        os.write(write_fd, b"hello")
        assert await receiver.receive() == b"hello"
        await receiver.aclose()
        assert os.get_blocking(read_fd)
        # The descriptor is no longer registered with the loop: registering it again works.
        loop = asyncio.get_running_loop()
        assert not loop.remove_reader(read_fd)
        with pytest.raises(anyio.ClosedResourceError):
            await receiver.receive()
    finally:
        os.close(read_fd)
        os.close(write_fd)


async def test_a_regular_file_falls_back_to_readiness_waits() -> None:
    with tempfile.TemporaryFile() as file:
        file.write(b"x" * (READ_SIZE + 10))
        file.flush()
        file.seek(0)
        assert await open_pipe_reader(file.fileno()) is None  # epoll refuses regular files
        receiver = FdReceiveStream(os.dup(file.fileno()), close_fd=True)
        first = await receiver.receive(1 << 20)
        assert len(first) == READ_SIZE  # reads are capped: no mmap-sized buffers
        assert len(await receiver.receive(1 << 20)) == 10
        with pytest.raises(anyio.EndOfStream):
            await receiver.receive()
        await receiver.aclose()


async def test_writing_after_the_reader_left_is_a_broken_resource() -> None:
    read_fd, write_fd = os.pipe()
    receiver = FdReceiveStream(read_fd, close_fd=True)
    sender = FdSendStream(write_fd, close_fd=True)
    await sender.send(b"one\n")
    assert await receiver.receive() == b"one\n"
    await receiver.aclose()
    with pytest.raises(anyio.BrokenResourceError):
        await sender.send(b"lost\n")
    await sender.aclose()


async def test_megabytes_cross_the_loop_reader_through_pause_and_resume() -> None:
    # More than the high-water mark arrives while the consumer dawdles: reading
    # must pause and resume (on uvloop, through its pipe transport) and lose nothing.
    read_fd, write_fd = os.pipe()
    receiver = FdReceiveStream(read_fd, close_fd=True)
    payload = bytes(range(256)) * (3 * 4096)  # 3 MiB

    def write_all() -> None:
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view) :]
        os.close(write_fd)

    received = bytearray()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, write_all)
            await anyio.wait_all_tasks_blocked()  # let the buffer fill past high water
            while True:
                try:
                    received += await receiver.receive(READ_SIZE)
                except anyio.EndOfStream:
                    break
    await receiver.aclose()
    assert bytes(received) == payload
