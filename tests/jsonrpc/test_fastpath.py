"""The fast path answers exactly as the general path would, and leaves it every unusual case."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from structlog.testing import capture_logs

from opencode_orchestrator.jsonrpc import ErrorCode, RpcError
from opencode_orchestrator.jsonrpc import messages as wire
from opencode_orchestrator.jsonrpc.fastpath import FastPath
from opencode_orchestrator.jsonrpc.framing import OVERSIZED, ReadItem
from opencode_orchestrator.jsonrpc.replies import encode_reply, run_sync_handler

RUNNING_ID = 7
_TOO_LARGE_LINE = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32004,"message":"line too long"}}\n'


class Point(BaseModel):
    x: int


def _refuse(params: Any) -> None:
    raise RpcError(-33001, "mission not found", {"mission": "m1"})


def _fail(params: Any) -> None:
    raise ValueError("secret internals")


def _guard(method: str) -> None:
    if method == "guarded":
        raise RpcError(ErrorCode.SERVER_NOT_INITIALIZED, "server not initialized")


SYNC_HANDLERS: dict[str, Any] = {
    "echo": lambda params: params,
    "guarded": lambda params: "never",
    "refuse": _refuse,
    "fail": _fail,
    "unserialisable": lambda params: object(),
    "nan": lambda params: float("nan"),
    "point": lambda params: Point(x=1).model_dump(mode="json"),
}


def _fast_path(*, accepting: bool = True, guard: bool = True) -> FastPath:
    fast = FastPath({"slow": object()}, SYNC_HANDLERS, {RUNNING_ID: object()})
    fast.accepting = accepting
    fast.guard = _guard if guard else None
    return fast


def _general(fast: FastPath, line: bytes) -> bytes | wire.Incoming | wire.Batch:
    """What the dispatcher's general path makes of a line (a reply, or what it dispatches)."""
    parsed = wire.parse_line(line)
    if isinstance(parsed, wire.Request) and parsed.method in SYNC_HANDLERS:
        refusal = fast.refusal(parsed.id, parsed.method)
        if refusal is not None:
            return encode_reply(wire.error_response(parsed.id, refusal))
        return encode_reply(run_sync_handler(SYNC_HANDLERS[parsed.method], parsed))
    return parsed


def _check(fast: FastPath, line: bytes) -> bytes | wire.Incoming | wire.Batch:
    with capture_logs() as fast_logs:
        answer = fast.answer(line)
    with capture_logs() as general_logs:
        expected = _general(fast, line)
    if isinstance(answer, bytes):
        assert answer == expected
        assert fast_logs == general_logs
    else:
        # Left to the general path: classified exactly as parse_line classifies it.
        assert answer == wire.parse_line(line)
    return answer


def _line(message: Any) -> bytes:
    return orjson.dumps(message)


@pytest.mark.parametrize(
    ("message", "answered"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"a": [1, 2]}}, True),
        ({"jsonrpc": "2.0", "id": "x", "method": "echo", "params": [1, "2"]}, True),
        ({"jsonrpc": "2.0", "id": 1, "method": "echo"}, True),
        ({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": None}, True),
        ({"jsonrpc": "2.0", "id": -(2**63), "method": "echo", "params": {}}, True),
        ({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {}, "result": 1}, True),
        ({"jsonrpc": "2.0", "id": 1, "method": "point"}, True),
        ({"jsonrpc": "2.0", "id": 1, "method": "refuse"}, True),
        ({"jsonrpc": "2.0", "id": 1, "method": "fail"}, True),
        ({"jsonrpc": "2.0", "id": 1, "method": "unserialisable"}, True),
        ({"jsonrpc": "2.0", "id": 1, "method": "nan"}, True),
        ({"jsonrpc": "2.0", "id": 1, "method": "guarded"}, True),
        ({"jsonrpc": "2.0", "id": RUNNING_ID, "method": "echo"}, False),  # duplicate id
        ({"jsonrpc": "2.0", "id": 1, "method": "slow"}, False),  # an async handler
        ({"jsonrpc": "2.0", "id": 1, "method": "nope"}, False),  # method not found
        ({"jsonrpc": "2.0", "method": "echo"}, False),  # a notification
        ({"jsonrpc": "2.0", "id": True, "method": "echo"}, False),
        ({"jsonrpc": "2.0", "id": 1.0, "method": "echo"}, False),
        ({"jsonrpc": "2.0", "id": None, "method": "echo"}, False),
        ({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": 3}, False),
        ({"jsonrpc": "2.0", "id": 1, "method": ["echo"]}, False),
        ({"jsonrpc": "1.0", "id": 1, "method": "echo"}, False),
        ({"id": 1, "method": "echo"}, False),
        ({"jsonrpc": "2.0", "id": 1, "result": 1}, False),
        ([{"jsonrpc": "2.0", "id": 1, "method": "echo"}], False),  # a batch
        ([], False),
        ("echo", False),
    ],
)
def test_table(message: Any, answered: bool) -> None:
    answer = _check(_fast_path(), _line(message))
    assert isinstance(answer, bytes) is answered


@pytest.mark.parametrize("line", [b"{", b"\xff", b'{"a": NaN}', b"[" * 2000, b" "])
def test_unparsable_lines_are_classified_as_parse_errors(line: bytes) -> None:
    answer = _check(_fast_path(), line)
    assert isinstance(answer, wire.InvalidMessage)


def test_not_accepting_goes_the_general_way() -> None:
    line = _line({"jsonrpc": "2.0", "id": 1, "method": "echo"})
    fast = _fast_path(accepting=False)
    assert fast.answer(line) == wire.Request(1, "echo", None)
    assert fast.refusal(1, "echo") == {"code": ErrorCode.SHUTTING_DOWN, "message": "shutting down"}


def test_without_guard() -> None:
    answer = _check(
        _fast_path(guard=False), _line({"jsonrpc": "2.0", "id": 1, "method": "guarded"})
    )
    assert answer == b'{"jsonrpc":"2.0","id":1,"result":"never"}\n'


def test_failures_are_logged_once() -> None:
    with capture_logs() as logs:
        _fast_path().answer(_line({"jsonrpc": "2.0", "id": 1, "method": "fail"}))
    assert [entry["event"] for entry in logs] == ["request handler failed"]


_int64 = st.integers(-(2**63), 2**63 - 1)
_json = st.recursive(
    st.none() | st.booleans() | _int64 | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_messages = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0"]) | _json,
        "id": st.sampled_from([1, RUNNING_ID, "a"]) | _json,
        "method": st.sampled_from([*SYNC_HANDLERS, "slow", "nope"]) | _json,
        "params": _json,
        "result": _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(message=_messages | st.lists(_messages, max_size=2) | _json, accepting=st.booleans())
def test_same_as_the_general_path(message: Any, accepting: bool) -> None:
    try:
        line = orjson.dumps(message)
    except orjson.JSONEncodeError:  # NaN, or an integer JSON cannot hold
        line = orjson.dumps(None)
    _check(_fast_path(accepting=accepting), line)


def test_a_read_is_answered_up_to_the_line_the_general_path_takes() -> None:
    fast = _fast_path()
    lines: list[ReadItem] = [
        _line({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": [1]}),
        OVERSIZED,
        _line({"jsonrpc": "2.0", "id": 2, "method": "guarded"}),
        _line({"jsonrpc": "2.0", "method": "echo"}),
        _line({"jsonrpc": "2.0", "id": 3, "method": "echo"}),
    ]
    pending = iter(lines)
    out = bytearray()
    assert fast.answer_many(pending, out) == wire.Notification("echo", None)
    assert [orjson.loads(line) for line in out.splitlines()] == [
        {"jsonrpc": "2.0", "id": 1, "result": [1]},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32004, "message": "line too long"}},
        {"jsonrpc": "2.0", "id": 2, "error": {"code": -32002, "message": "server not initialized"}},
    ]
    out.clear()
    assert fast.answer_many(pending, out) is None  # resumes after the line it returned
    assert out == b'{"jsonrpc":"2.0","id":3,"result":null}\n'


def _runs(answers: list[bytes | wire.Incoming | wire.Batch]) -> list[object]:
    """Consecutive replies joined: the fast path hands them over together."""
    runs: list[object] = []
    for answer in answers:
        if isinstance(answer, bytes) and runs and isinstance(runs[-1], bytes):
            runs[-1] += answer
        else:
            runs.append(answer)
    return runs


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(_messages | _json, max_size=6), oversized=st.integers(0, 6))
def test_many_lines_as_one_at_a_time(messages: list[Any], oversized: int) -> None:
    lines: list[ReadItem] = []
    for message in messages:
        try:
            lines.append(orjson.dumps(message))
        except orjson.JSONEncodeError:
            lines.append(b"null")
    lines.insert(min(oversized, len(lines)), OVERSIZED)
    fast = _fast_path()
    one_at_a_time = [_TOO_LARGE_LINE if line is OVERSIZED else fast.answer(line) for line in lines]
    together: list[bytes | wire.Incoming | wire.Batch] = []
    out = bytearray()
    pending = iter(lines)
    while (rest := fast.answer_many(pending, out)) is not None:
        together += [bytes(out), rest]
        out.clear()
    together.append(bytes(out))
    assert _runs([a for a in together if a != b""]) == _runs(one_at_a_time)
