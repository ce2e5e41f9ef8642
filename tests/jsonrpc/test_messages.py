from __future__ import annotations

import orjson
import pytest

from opencode_orchestrator.jsonrpc import ErrorCode
from opencode_orchestrator.jsonrpc import messages as wire


def _one(line: bytes) -> wire.Incoming:
    parsed = wire.parse_line(line)
    assert not isinstance(parsed, list)
    return parsed


@pytest.mark.parametrize("request_id", [0, 7, -3, 2**63 - 1, "", "abc"])
def test_int_and_string_ids_make_requests(request_id: object) -> None:
    line = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "m", "params": [1]})
    assert _one(line) == wire.Request(request_id, "m", [1])  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_id", [1.0, 1.5, True, False, None, {"a": 1}, [1]])
def test_fractional_bool_null_and_structured_ids_are_invalid_requests(bad_id: object) -> None:
    message = _one(orjson.dumps({"jsonrpc": "2.0", "id": bad_id, "method": "m"}))
    assert isinstance(message, wire.InvalidMessage)
    assert message.code == ErrorCode.INVALID_REQUEST
    assert message.id is None
    assert message.reply


def test_notification_has_no_id_and_null_params_mean_none() -> None:
    assert _one(b'{"jsonrpc":"2.0","method":"n","params":null}') == wire.Notification("n", None)
    assert _one(b'{"jsonrpc":"2.0","method":"n"}') == wire.Notification("n", None)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"id":1,"method":"m"}', "jsonrpc"),
        (b'{"jsonrpc":"1.0","id":1,"method":"m"}', "jsonrpc"),
        (b'{"jsonrpc":"2.0","id":1,"method":5}', "method"),
        (b'{"jsonrpc":"2.0","id":1,"method":"m","params":3}', "params"),
        (b'{"jsonrpc":"2.0","id":1,"method":"m","params":"x"}', "params"),
        (b'{"jsonrpc":"2.0","id":1}', "not a request"),
        (b"42", "object"),
        (b'"s"', "object"),
    ],
)
def test_invalid_requests_keep_their_valid_id(line: bytes, reason: str) -> None:
    message = _one(line)
    assert isinstance(message, wire.InvalidMessage)
    assert message.code == ErrorCode.INVALID_REQUEST
    assert reason in message.message
    assert message.id == (1 if b'"id":1' in line else None)


def test_responses_and_error_responses() -> None:
    assert _one(b'{"jsonrpc":"2.0","id":4,"result":null}') == wire.Response(4, None)
    error = _one(b'{"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":"m","data":[1]}}')
    assert error == wire.Response("x", None, wire.ErrorObject(-1, "m", [1]))
    unattributed = _one(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"p"}}')
    assert isinstance(unattributed, wire.Response)
    assert unattributed.id is None


@pytest.mark.parametrize(
    "line",
    [
        b'{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}',
        b'{"jsonrpc":"2.0","result":1}',
        b'{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}',
        b'{"jsonrpc":"2.0","id":1,"error":"boom"}',
        b'{"jsonrpc":"2.0","id":1.5,"error":{"code":1,"message":"m"}}',
    ],
)
def test_malformed_responses_are_never_answered(line: bytes) -> None:
    message = _one(line)
    assert isinstance(message, wire.InvalidMessage)
    assert not message.reply


@pytest.mark.parametrize(
    "line",
    [
        b"\xff\xfe{}",
        b'{"jsonrpc":"2.0","id":1,"method":"\xc3"}',
        b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}',
        b'{"jsonrpc":"2.0","id":NaN,"method":"m"}',
        b'{"jsonrpc":"2.0","id":1,"method":"m","params":[1e999]}',
        b"[" * 100_000,
        b'{"jsonrpc":"2.0"',
        b'{"a":1} {"b":2}',
        b"\x00\x01\x02",
    ],
)
def test_undecodable_lines_are_parse_errors_with_null_id(line: bytes) -> None:
    message = _one(line)
    assert isinstance(message, wire.InvalidMessage)
    assert message.code == ErrorCode.PARSE_ERROR
    assert message.id is None


def test_huge_integers_parse_without_crashing() -> None:
    message = _one(b'{"jsonrpc":"2.0","id":1,"method":"m","params":[' + b"9" * 40 + b"]}")
    assert isinstance(message, wire.Request)


def test_empty_batch_is_one_invalid_request() -> None:
    message = _one(b"[]")
    assert isinstance(message, wire.InvalidMessage)
    assert message.code == ErrorCode.INVALID_REQUEST
    assert message.id is None


def test_batch_elements_are_classified_one_by_one() -> None:
    batch = wire.parse_line(
        b'[{"jsonrpc":"2.0","id":1,"method":"a"},1,{"jsonrpc":"2.0","method":"n"}]'
    )
    assert isinstance(batch, list)
    assert batch[0] == wire.Request(1, "a", None)
    assert isinstance(batch[1], wire.InvalidMessage)
    assert batch[2] == wire.Notification("n", None)


def test_encode_writes_one_line_and_omits_absent_params() -> None:
    line = wire.encode(wire.request(1, "m", None))
    assert line == b'{"jsonrpc":"2.0","id":1,"method":"m"}\n'
    assert orjson.loads(wire.encode(wire.notification("n", {"a": "é"}))) == {
        "jsonrpc": "2.0",
        "method": "n",
        "params": {"a": "é"},
    }
    with pytest.raises(TypeError):
        wire.encode(wire.result_response(1, object()))
