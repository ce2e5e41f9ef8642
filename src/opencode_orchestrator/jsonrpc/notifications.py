"""Incoming notifications: handled one at a time, in arrival order, by one task.

There is nobody to answer a notification, so a handler's failure is only
logged: a refusal (:class:`RpcError`, e.g. invalid params) as a warning, any
other exception with its traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeAlias

from anyio.streams.memory import MemoryObjectReceiveStream

from opencode_orchestrator.jsonrpc import messages as wire
from opencode_orchestrator.jsonrpc.errors import RpcError
from opencode_orchestrator.log import get_logger

__all__ = ["NotificationHandler", "run_notifications"]

NotificationHandler: TypeAlias = Callable[[wire.Params], Awaitable[None]]

_log = get_logger(__name__)


async def run_notifications(
    handlers: Mapping[str, NotificationHandler],
    notifications: MemoryObjectReceiveStream[wire.Notification],
) -> None:
    """Handle queued notifications in order until the queue is closed."""
    async for notification in notifications:
        handler = handlers.get(notification.method)
        if handler is None:
            if not notification.method.startswith("$/"):
                _log.info("ignored unknown notification", method=notification.method)
            continue
        try:
            await handler(notification.params)
        except RpcError as exc:  # e.g. invalid params: expected, no traceback needed
            _log.warning(
                "notification refused",
                method=notification.method,
                code=exc.code,
                reason=exc.message,
            )
        except Exception:  # noqa: BLE001 - there is no one to answer; keep serving
            _log.exception("notification handler failed", method=notification.method)
