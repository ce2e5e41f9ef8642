"""A test peer that speaks raw NDJSON bytes, bypassing the endpoint under test."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
from anyio.abc import ByteReceiveStream, ByteSendStream, ByteStream

from opencode_orchestrator.jsonrpc.framing import LineReader


class RawPeer:
    def __init__(self, receive: ByteReceiveStream, send: ByteSendStream) -> None:
        self._send = send
        self._lines = LineReader(receive, 2**30)

    async def send_raw(self, data: bytes) -> None:
        await self._send.send(data)

    async def send(self, message: Any) -> None:
        await self._send.send(orjson.dumps(message) + b"\n")

    async def request(self, request_id: Any, method: str, params: Any = None) -> None:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)

    async def notify(self, method: str, params: Any = None) -> None:
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)

    async def receive(self, timeout: float = 10) -> Any:
        with anyio.fail_after(timeout):
            line = await self._lines.__anext__()
        assert isinstance(line, bytes)
        return orjson.loads(line)

    async def receive_all_until_eof(self, timeout: float = 10) -> list[Any]:
        messages = []
        with anyio.fail_after(timeout):
            async for line in self._lines:
                assert isinstance(line, bytes)
                messages.append(orjson.loads(line))
        return messages

    async def call(self, request_id: Any, method: str, params: Any = None) -> Any:
        await self.request(request_id, method, params)
        reply = await self.receive()
        assert reply.get("id") == request_id, reply
        return reply

    async def send_eof(self) -> None:
        if isinstance(self._send, ByteStream):
            await self._send.send_eof()
        else:
            await self._send.aclose()

    async def close(self) -> None:
        await self._send.aclose()
