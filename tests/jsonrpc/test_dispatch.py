"""The wire behaviour of an endpoint, observed by a raw NDJSON peer."""

from __future__ import annotations

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from anyio.lowlevel import checkpoint
from structlog.testing import capture_logs

from opencode_orchestrator.jsonrpc import DispatcherState, ErrorCode
from tests.jsonrpc.conftest import Harness, build_server

pytestmark = pytest.mark.anyio


async def test_request_gets_its_result(served: Harness) -> None:
    reply = await served.peer.call(1, "echo", {"a": [1, "é"]})
    assert reply == {"jsonrpc": "2.0", "id": 1, "result": {"a": [1, "é"]}}
    assert (await served.peer.call("s-1", "echo", [1, 2]))["result"] == [1, 2]


async def test_unknown_method(served: Harness) -> None:
    reply = await served.peer.call(2, "nope")
    assert reply["error"]["code"] == ErrorCode.METHOD_NOT_FOUND


async def test_parse_error_has_null_id_and_serving_continues(served: Harness) -> None:
    await served.peer.send_raw(b'{"jsonrpc": "2.0", "method": oops\n')
    reply = await served.peer.receive()
    assert reply["id"] is None
    assert reply["error"]["code"] == ErrorCode.PARSE_ERROR
    assert (await served.peer.call(3, "echo", [3]))["result"] == [3]


@pytest.mark.parametrize("bad_id", [1.5, True, None, {"x": 1}])
async def test_invalid_ids_are_invalid_requests(served: Harness, bad_id: object) -> None:
    await served.peer.send({"jsonrpc": "2.0", "id": bad_id, "method": "echo"})
    reply = await served.peer.receive()
    assert reply == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "id must be an integer or a string"},
    }


async def test_invalid_params_name_the_field_without_library_internals(served: Harness) -> None:
    reply = await served.peer.call(4, "goal", {"workers": "many"})
    error = reply["error"]
    assert error["code"] == ErrorCode.INVALID_PARAMS
    assert "params.goal: Field required" in error["message"]
    assert "params.workers: Input should be a valid integer" in error["message"]
    text = str(error)
    assert "pydantic" not in text
    assert "GoalParams" not in text
    assert "http" not in text


async def test_params_of_the_wrong_shape_are_invalid_params(served: Harness) -> None:
    for params in (["positional"], None):
        reply = await served.peer.call(5, "goal", params)
        assert reply["error"]["code"] == ErrorCode.INVALID_PARAMS
        assert "GoalParams" not in reply["error"]["message"]


async def test_typed_handler_result_is_dumped(served: Harness) -> None:
    reply = await served.peer.call(6, "goal", {"goal": "ship"})
    assert reply["result"] == {"goal": "ship", "workers": 1}


async def test_internal_error_is_generic_on_the_wire_and_logged(served: Harness) -> None:
    with capture_logs() as logs:
        reply = await served.peer.call(7, "fail")
    assert reply["error"] == {"code": ErrorCode.INTERNAL_ERROR, "message": "internal error"}
    [entry] = [e for e in logs if e["event"] == "request handler failed"]
    assert entry["log_level"] == "error"
    assert entry["exc_info"] is True  # the traceback goes to the log, never to the wire


async def test_unserialisable_result_is_an_internal_error(served: Harness) -> None:
    reply = await served.peer.call(8, "unserialisable")
    assert reply["error"]["code"] == ErrorCode.INTERNAL_ERROR


async def test_rpc_error_is_sent_as_is(served: Harness) -> None:
    reply = await served.peer.call(9, "refuse")
    assert reply["error"] == {
        "code": -33001,
        "message": "mission not found",
        "data": {"mission": "m1"},
    }


async def test_slow_request_does_not_block_a_fast_one(served: Harness) -> None:
    await served.peer.request(10, "slow")
    with anyio.fail_after(5):
        await served.slow_started.wait()
    assert (await served.peer.call(11, "echo", [11]))["result"] == [11]
    served.release.set()
    assert await served.peer.receive() == {"jsonrpc": "2.0", "id": 10, "result": "released"}


async def test_cancel_request_answers_with_request_cancelled(served: Harness) -> None:
    await served.peer.request("job", "slow", {"n": 1})
    with anyio.fail_after(5):
        await served.slow_started.wait()
    await served.peer.notify("$/cancelRequest", {"id": "job"})
    reply = await served.peer.receive()
    assert reply["id"] == "job"
    assert reply["error"]["code"] == ErrorCode.REQUEST_CANCELLED
    assert served.cancelled == [{"n": 1}]
    # Cancelling something unknown or malformed is harmless.
    await served.peer.notify("$/cancelRequest", {"id": "gone"})
    await served.peer.notify("$/cancelRequest", [1])
    assert (await served.peer.call(12, "echo", [12]))["result"] == [12]


async def test_duplicate_in_flight_id_is_refused(served: Harness) -> None:
    await served.peer.request(13, "slow")
    with anyio.fail_after(5):
        await served.slow_started.wait()
    await served.peer.request(13, "echo")
    reply = await served.peer.receive()
    assert reply["error"] == {"code": ErrorCode.INVALID_REQUEST, "message": "duplicate request id"}
    served.release.set()
    assert (await served.peer.receive())["result"] == "released"


async def test_notifications_are_handled_in_arrival_order(served: Harness) -> None:
    for i in range(300):
        await served.peer.notify("note", {"i": i})
    await served.peer.notify("unknown/notification")
    # A request after them: its reply proves they were all read, not that they ran.
    assert (await served.peer.call(14, "echo"))["result"] is None
    with anyio.fail_after(5):
        while len(served.notes) < 300:
            await checkpoint()
    assert served.notes == [{"i": i} for i in range(300)]


async def test_response_to_an_unknown_id_is_dropped(served: Harness) -> None:
    with capture_logs() as logs:
        await served.peer.send({"jsonrpc": "2.0", "id": 999, "result": 1})
        await served.peer.send({"jsonrpc": "2.0", "id": 998, "error": {"code": 1, "message": "x"}})
        await served.peer.send({"jsonrpc": "2.0", "id": 1, "result": 1, "error": {}})
        await served.peer.send(
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
        )
        assert (await served.peer.call(15, "echo", [15]))["result"] == [15]
    events = [(e["event"], e.get("id")) for e in logs]
    assert ("peer reported an unattributed error", None) in events
    assert ("dropped a response to no pending request", 999) in events
    assert ("dropped a response to no pending request", 998) in events
    assert ("dropped a malformed response", 1) in events


async def test_empty_batch_is_one_invalid_request(served: Harness) -> None:
    await served.peer.send_raw(b"[]\n")
    assert await served.peer.receive() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": ErrorCode.INVALID_REQUEST, "message": "empty batch"},
    }


async def test_batch_replies_come_back_as_one_array(served: Harness) -> None:
    await served.peer.send(
        [
            {"jsonrpc": "2.0", "id": 1, "method": "echo", "params": [1]},
            {"jsonrpc": "2.0", "method": "note", "params": {"i": "batched"}},
            1,
            {"jsonrpc": "2.0", "id": 2, "method": "nope"},
            {"jsonrpc": "2.0", "id": 3, "method": "goal", "params": {}},
        ]
    )
    reply = await served.peer.receive()
    assert isinstance(reply, list)
    by_id = {item["id"]: item for item in reply}
    assert len(reply) == 4
    assert by_id[1]["result"] == [1]
    assert by_id[None]["error"]["code"] == ErrorCode.INVALID_REQUEST
    assert by_id[2]["error"]["code"] == ErrorCode.METHOD_NOT_FOUND
    assert by_id[3]["error"]["code"] == ErrorCode.INVALID_PARAMS


async def test_batch_of_notifications_gets_no_reply(served: Harness) -> None:
    await served.peer.send(
        [{"jsonrpc": "2.0", "method": "note", "params": {"i": n}} for n in (1, 2)]
    )
    assert (await served.peer.call(16, "echo"))["id"] == 16
    with anyio.fail_after(5):
        while len(served.notes) < 2:
            await checkpoint()


async def test_oversized_line_is_answered_and_the_stream_resyncs() -> None:
    endpoint, _harness, peer = build_server(max_line_bytes=100)
    async with endpoint.run():
        await peer.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"echo","params":["' + b"x" * 500)
        await peer.send_raw(b'"]}\n')
        reply = await peer.receive()
        assert reply["id"] is None
        assert reply["error"]["code"] == ErrorCode.MESSAGE_TOO_LARGE
        assert (await peer.call(2, "echo", [2]))["result"] == [2]
    await peer.close()


async def test_reading_pauses_when_all_request_slots_are_busy() -> None:
    endpoint, harness, peer = build_server(max_concurrent_requests=2)
    async with endpoint.run():
        for i in range(3):
            await peer.request(i, "slow")
        await peer.request("fast", "echo")
        await wait_all_tasks_blocked()
        assert harness.started == 2  # the third waits for a slot; nothing read after it
        harness.release.set()
        replies = [await peer.receive() for _ in range(4)]
        assert sorted(str(r["id"]) for r in replies) == ["0", "1", "2", "fast"]
        assert harness.started == 3
    await peer.close()


async def test_end_of_input_cancels_in_flight_requests_and_closes() -> None:
    endpoint, harness, peer = build_server()
    async with anyio.create_task_group() as tg:
        tg.start_soon(endpoint.serve_forever)
        await peer.request(1, "slow", {"n": 1})
        with anyio.fail_after(5):
            await harness.slow_started.wait()
        await peer.send_eof()
        replies = await peer.receive_all_until_eof()
    assert replies == [
        {"jsonrpc": "2.0", "id": 1, "error": {"code": -32800, "message": "request cancelled"}}
    ]
    assert harness.cancelled == [{"n": 1}]
    assert endpoint.state is DispatcherState.CLOSED
    await peer.close()
