"""Property-based tests: no input desynchronises or crashes an endpoint."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencode_orchestrator import runtime
from opencode_orchestrator.jsonrpc import DispatcherState
from tests.jsonrpc.conftest import build_server

MAX_LINE = 512

_int64 = st.integers(-(2**63), 2**63 - 1)

_json_scalars = st.none() | st.booleans() | _int64 | st.floats() | st.text(max_size=10)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
# Almost-messages: the envelope keys with values of any type, to reach every validation branch.
_almost_message = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2]) | _json,
        "id": _int64 | st.text(max_size=5) | _json,
        "method": st.sampled_from(["echo", "nope", "$/cancelRequest", "note"]) | _json,
        "params": _json,
        "result": _json,
        "error": _json,
    },
).map(orjson.dumps)
_garbage = (
    st.binary(max_size=2 * MAX_LINE)
    | _almost_message
    | st.lists(_almost_message, max_size=3).map(lambda parts: b"[" + b",".join(parts) + b"]")
)


async def _exchange(stream: bytes) -> list[Any]:
    """Feed ``stream`` to a server, end the input, and return every reply it wrote."""
    endpoint, _harness, peer = build_server(max_line_bytes=MAX_LINE)
    replies: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(endpoint.serve_forever)

        async def feed() -> None:
            await peer.send_raw(stream)
            await peer.send_eof()

        tg.start_soon(feed)
        replies = await peer.receive_all_until_eof()
    assert endpoint.state is DispatcherState.CLOSED
    await peer.close()
    return replies


def _flatten(replies: list[Any]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for reply in replies:
        flat.extend(reply if isinstance(reply, list) else [reply])
    return flat


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.lists(_garbage, max_size=12))
def test_garbage_interleaved_with_requests_never_desynchronises(garbage: list[bytes]) -> None:
    stream = bytearray()
    for n, junk in enumerate(garbage):
        stream += junk + b"\n"
        stream += orjson.dumps(
            {"jsonrpc": "2.0", "id": f"valid-{n}", "method": "echo", "params": [n]}
        )
        stream += b"\n"
    replies = _flatten(runtime.run(_exchange, bytes(stream)))
    assert all(reply["jsonrpc"] == "2.0" for reply in replies)
    answered = [r for r in replies if isinstance(r["id"], str) and r["id"].startswith("valid-")]
    # Every valid request is answered exactly once: with its result, or cancelled by the EOF.
    assert sorted(r["id"] for r in answered) == sorted(f"valid-{n}" for n in range(len(garbage)))
    for reply in answered:
        n = int(reply["id"].removeprefix("valid-"))
        assert reply.get("result") == [n] or reply["error"]["code"] == -32800


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(noise=st.binary(max_size=4 * MAX_LINE))
def test_random_bytes_never_crash_and_a_request_after_a_newline_is_answered(noise: bytes) -> None:
    final = b'{"jsonrpc":"2.0","id":"final","method":"echo","params":["ok"]}\n'
    replies = _flatten(runtime.run(_exchange, noise + b"\n" + final))
    for reply in replies:
        assert set(reply) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"})
        if "error" in reply:
            assert isinstance(reply["error"]["code"], int)
            assert isinstance(reply["error"]["message"], str)
    [last] = [r for r in replies if r["id"] == "final"]
    assert last.get("result") == ["ok"] or last["error"]["code"] == -32800
