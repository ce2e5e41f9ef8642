"""The session lifecycle of the core, as in LSP: initialize, serve, shutdown, exit.

::

    AWAITING_INITIALIZE --initialize--> INITIALIZING --initialized--> READY
            |                                 |                         |
            +----------------- shutdown ------+-------------------------+--> SHUT_DOWN
                                                                              |
    any state ------------------------------ exit ------------------------> EXITED

Requests are checked against the state before they reach their handler:
before ``initialize`` only ``initialize`` is accepted (``-32002``); after
``shutdown`` nothing is (``-32600``).
"""

from __future__ import annotations

from enum import Enum

from opencode_orchestrator.jsonrpc import ErrorCode, RpcError

__all__ = ["Lifecycle", "SessionState"]

INITIALIZE = "initialize"


class SessionState(Enum):
    """Where the session is; states only move forward."""

    AWAITING_INITIALIZE = "awaiting-initialize"
    INITIALIZING = "initializing"
    READY = "ready"
    SHUT_DOWN = "shut-down"
    EXITED = "exited"


class Lifecycle:
    """The session state machine; every transition refuses to run from the wrong state."""

    def __init__(self) -> None:
        self._state = SessionState.AWAITING_INITIALIZE
        self._shutdown_accepted = False

    @property
    def state(self) -> SessionState:
        """The current state."""
        return self._state

    @property
    def shut_down(self) -> bool:
        """True once ``shutdown`` was accepted (an orderly end exits with code 0)."""
        return self._shutdown_accepted

    def check_request(self, method: str) -> None:
        """Refuse a request the current state does not allow.

        Raises:
            RpcError: ``-32002`` before initialize, ``-32600`` after shutdown or on a
                second initialize.
        """
        state = self._state
        if state is SessionState.READY or state is SessionState.INITIALIZING:
            if method == INITIALIZE:
                raise RpcError(ErrorCode.INVALID_REQUEST, "already initialized")
            return
        if state is SessionState.AWAITING_INITIALIZE:
            if method != INITIALIZE:
                raise RpcError(ErrorCode.SERVER_NOT_INITIALIZED, "server not initialized")
            return
        raise RpcError(ErrorCode.INVALID_REQUEST, "server is shut down")

    def begin_initialize(self) -> None:
        """``initialize`` is being answered.

        Raises:
            RpcError: ``-32600`` if the session was already initialized.
        """
        if self._state is not SessionState.AWAITING_INITIALIZE:
            raise RpcError(ErrorCode.INVALID_REQUEST, "already initialized")
        self._state = SessionState.INITIALIZING

    def confirm_initialized(self) -> bool:
        """The client acknowledged initialization; False if that came out of order."""
        if self._state is not SessionState.INITIALIZING:
            return False
        self._state = SessionState.READY
        return True

    def shutdown(self) -> None:
        """``shutdown`` was accepted: no request is served any more.

        Raises:
            RpcError: ``-32600`` if the session is already shut down.
        """
        if self._state in (SessionState.SHUT_DOWN, SessionState.EXITED):
            raise RpcError(ErrorCode.INVALID_REQUEST, "server is shut down")
        self._state = SessionState.SHUT_DOWN
        self._shutdown_accepted = True

    def exit(self) -> int:
        """``exit`` arrived: the process exit code, 0 after ``shutdown`` and 1 without."""
        code = 0 if self._shutdown_accepted else 1
        self._state = SessionState.EXITED
        return code
