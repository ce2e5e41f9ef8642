from __future__ import annotations

import pytest

from opencode_orchestrator.core import Lifecycle, SessionState
from opencode_orchestrator.jsonrpc import ErrorCode, RpcError


def _refusal(lifecycle: Lifecycle, method: str) -> int | None:
    try:
        lifecycle.check_request(method)
    except RpcError as exc:
        return exc.code
    return None


def test_only_initialize_before_initialization() -> None:
    lifecycle = Lifecycle()
    assert _refusal(lifecycle, "echo") == ErrorCode.SERVER_NOT_INITIALIZED
    assert _refusal(lifecycle, "shutdown") == ErrorCode.SERVER_NOT_INITIALIZED
    assert _refusal(lifecycle, "initialize") is None


def test_full_session() -> None:
    lifecycle = Lifecycle()
    lifecycle.begin_initialize()
    assert lifecycle.state is SessionState.INITIALIZING
    assert _refusal(lifecycle, "echo") is None
    assert _refusal(lifecycle, "initialize") == ErrorCode.INVALID_REQUEST
    assert lifecycle.confirm_initialized()
    assert not lifecycle.confirm_initialized()  # a second one is out of order
    assert lifecycle.state.value == "ready"
    lifecycle.shutdown()
    assert lifecycle.shut_down
    assert _refusal(lifecycle, "echo") == ErrorCode.INVALID_REQUEST
    assert _refusal(lifecycle, "initialize") == ErrorCode.INVALID_REQUEST
    assert lifecycle.exit() == 0
    assert lifecycle.state.value == "exited"


def test_transitions_refuse_misuse() -> None:
    lifecycle = Lifecycle()
    assert not lifecycle.confirm_initialized()
    lifecycle.begin_initialize()
    with pytest.raises(RpcError):
        lifecycle.begin_initialize()
    lifecycle.shutdown()
    with pytest.raises(RpcError):
        lifecycle.shutdown()


def test_exit_without_shutdown_is_a_failure() -> None:
    assert Lifecycle().exit() == 1
