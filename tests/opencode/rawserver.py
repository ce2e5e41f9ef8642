"""A raw TCP server for the wire tests: each connection reads one request and runs a handler.

Raw sockets let a test fail a request exactly where it needs to (before an
answer, mid-body) and see the bytes the client really sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
from anyio.abc import SocketAttribute, SocketStream

Handler = Callable[[SocketStream], Awaitable[None]]


async def read_request(stream: SocketStream) -> bytes:
    """One request, head and body (by its content-length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        body += await stream.receive()
    return head + b"\r\n\r\n" + body


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server on 127.0.0.1; yields its URL and the requests it read, in order."""
    requests: list[bytes] = []

    async def serve(stream: SocketStream) -> None:
        async with stream:
            requests.append(await read_request(stream))
            await handler(stream)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}", requests
        finally:
            tg.cancel_scope.cancel()


def response(status: str, body: bytes = b"", *headers: str) -> bytes:
    """A whole HTTP/1.1 response that closes its connection (so none is reused)."""
    head = [f"HTTP/1.1 {status}", f"content-length: {len(body)}", "connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def answers(*responses: bytes) -> Handler:
    """A handler sending ``responses`` one per request; the last one repeats."""
    queue = list(responses)

    async def answer(stream: SocketStream) -> None:
        await stream.send(queue.pop(0) if len(queue) > 1 else queue[0])

    return answer
