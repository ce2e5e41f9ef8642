"""Non-blocking descriptor streams over a real pipe."""

from __future__ import annotations

import os

import anyio
import pytest

from opencode_orchestrator.jsonrpc import FdReceiveStream, FdSendStream

pytestmark = pytest.mark.anyio


async def test_a_megabyte_crosses_a_pipe_through_partial_writes_and_readiness_waits() -> None:
    read_fd, write_fd = os.pipe()
    payload = os.urandom(1 << 20)  # far more than the pipe buffer: writes must wait
    receiver = FdReceiveStream(read_fd, close_fd=True)
    sender = FdSendStream(write_fd, close_fd=True)
    received = bytearray()

    async def send() -> None:
        await sender.send(payload)
        await sender.aclose()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(send)
            while True:
                try:
                    received += await receiver.receive()
                except anyio.EndOfStream:
                    break
    await receiver.aclose()
    assert bytes(received) == payload


async def test_blocking_mode_is_restored_and_closed_streams_refuse() -> None:
    read_fd, write_fd = os.pipe()
    try:
        receiver = FdReceiveStream(read_fd)
        sender = FdSendStream(write_fd)
        assert not os.get_blocking(read_fd)
        assert not os.get_blocking(write_fd)
        await receiver.aclose()
        await sender.aclose()
        assert os.get_blocking(read_fd)
        assert os.get_blocking(write_fd)
        with pytest.raises(anyio.ClosedResourceError):
            await receiver.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await sender.send(b"x")
    finally:
        os.close(read_fd)
        os.close(write_fd)


async def test_writing_to_a_pipe_nobody_reads_is_a_broken_resource() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    sender = FdSendStream(write_fd, close_fd=True)
    with pytest.raises(anyio.BrokenResourceError):
        await sender.send(b"lost\n")
    await sender.aclose()
