"""Synchronous request handlers: answered inline by the reader, errors mapped as for async ones."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from pydantic import BaseModel, Field
from structlog.testing import capture_logs

from opencode_orchestrator.jsonrpc import Endpoint, ErrorCode, RpcError, memory_stream_pair
from tests.jsonrpc.rawpeer import RawPeer

pytestmark = pytest.mark.anyio


class AddParams(BaseModel):
    a: int
    b: int


class Named(BaseModel):
    full_name: str = Field(alias="fullName")


@pytest.fixture
async def peer() -> AsyncIterator[RawPeer]:
    server_side, peer_side = memory_stream_pair()
    endpoint = Endpoint(server_side)
    release = anyio.Event()

    @endpoint.method("add", AddParams)
    def add(params: AddParams) -> int:
        return params.a + params.b

    @endpoint.method("echo")
    def echo(params: object) -> object:
        return params

    @endpoint.method("named")
    def named(params: object) -> Named:
        return Named.model_validate({"fullName": "x"})

    @endpoint.method("refuse")
    def refuse(params: object) -> None:
        raise RpcError(-33001, "mission not found", {"mission": "m1"})

    @endpoint.method("fail")
    def fail(params: object) -> None:
        raise ValueError("secret internals")

    @endpoint.method("unserialisable")
    def unserialisable(params: object) -> object:
        return object()

    @endpoint.method("wait")
    async def wait(params: object) -> str:
        await release.wait()
        return "released"

    @endpoint.method("release")
    def release_waiters(params: object) -> bool:
        release.set()
        return True

    async with endpoint.run():
        yield RawPeer(peer_side, peer_side)
    await peer_side.aclose()


async def test_result_of_a_typed_sync_handler(peer: RawPeer) -> None:
    assert await peer.call(1, "add", {"a": 2, "b": 3}) == {"jsonrpc": "2.0", "id": 1, "result": 5}
    assert (await peer.call(2, "echo", [1, "é"]))["result"] == [1, "é"]


async def test_rpc_error_of_a_sync_handler_is_answered_as_is(peer: RawPeer) -> None:
    reply = await peer.call(1, "refuse")
    assert reply["error"] == {
        "code": -33001,
        "message": "mission not found",
        "data": {"mission": "m1"},
    }


async def test_invalid_params_of_a_sync_handler(peer: RawPeer) -> None:
    reply = await peer.call(1, "add", {"a": "x"})
    assert reply["error"]["code"] == ErrorCode.INVALID_PARAMS
    assert "params.a" in reply["error"]["message"]
    assert "params.b" in reply["error"]["message"]


async def test_a_failing_sync_handler_is_an_internal_error_logged_with_traceback(
    peer: RawPeer,
) -> None:
    with capture_logs() as logs:
        reply = await peer.call(7, "fail")
        unserialisable = await peer.call(8, "unserialisable")
    assert reply["error"] == {"code": ErrorCode.INTERNAL_ERROR, "message": "internal error"}
    assert "secret" not in str(reply)
    assert unserialisable["error"]["code"] == ErrorCode.INTERNAL_ERROR
    failure = next(entry for entry in logs if entry["event"] == "request handler failed")
    assert failure["method"] == "fail"
    assert failure["exc_info"] is True


async def test_replies_of_one_read_keep_their_order_and_leave_together(peer: RawPeer) -> None:
    lines = b"".join(
        b'{"jsonrpc":"2.0","id":%d,"method":"echo","params":[%d]}\n' % (i, i) for i in range(50)
    )
    await peer.send_raw(lines)
    replies = [await peer.receive() for _ in range(50)]
    assert [reply["id"] for reply in replies] == list(range(50))
    assert [reply["result"] for reply in replies] == [[i] for i in range(50)]


async def test_one_read_mixing_inline_and_general_lines_keeps_its_order(peer: RawPeer) -> None:
    await peer.send_raw(
        b'{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}\n'
        b"{oops\n"
        b"\r\n"
        b'{"jsonrpc":"2.0","id":2,"method":"echo","params":[2]}\n'
        b'{"jsonrpc":"2.0","id":3,"method":"nope"}\n'
        b'{"jsonrpc":"2.0","method":"echo"}\n'
        b'{"jsonrpc":"2.0","id":4,"method":"echo","params":[4]}\n'
    )
    replies = [await peer.receive() for _ in range(5)]
    assert [(reply["id"], reply.get("result"), "error" in reply) for reply in replies] == [
        (1, [1], False),
        (None, None, True),  # the parse error
        (2, [2], False),
        (3, None, True),  # method not found
        (4, [4], False),  # the notification got nothing, the blank line was skipped
    ]


async def test_a_model_returned_by_an_untyped_sync_handler_is_dumped_by_alias(
    peer: RawPeer,
) -> None:
    assert (await peer.call(1, "named"))["result"] == {"fullName": "x"}


async def test_sync_handlers_answer_while_async_ones_wait(peer: RawPeer) -> None:
    await peer.request(1, "wait")
    assert (await peer.call(2, "echo", [2]))["result"] == [2]
    await peer.request(3, "release")
    replies = {reply["id"]: reply for reply in [await peer.receive(), await peer.receive()]}
    assert replies[3]["result"] is True
    assert replies[1]["result"] == "released"


async def test_sync_handlers_in_a_batch(peer: RawPeer) -> None:
    await peer.send(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "add", "params": {"a": 1, "b": 1}},
            {"jsonrpc": "2.0", "id": 2, "method": "refuse"},
        ]
    )
    replies = {reply["id"]: reply for reply in await peer.receive()}
    assert replies[1]["result"] == 2
    assert replies[2]["error"]["code"] == -33001


async def test_registering_again_replaces_the_handler_whatever_its_kind() -> None:
    server_side, peer_side = memory_stream_pair()
    endpoint = Endpoint(server_side)

    @endpoint.method("m")
    def first(params: object) -> str:
        return "sync"

    @endpoint.method("m")
    async def second(params: object) -> str:
        return "async"

    async with endpoint.run():
        assert (await RawPeer(peer_side, peer_side).call(1, "m"))["result"] == "async"
    await peer_side.aclose()
