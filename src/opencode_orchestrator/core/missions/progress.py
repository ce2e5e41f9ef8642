"""``mission/progress``: state changes worth telling the user, sent core -> shim.

The engine must never wait on the wire, so a notification is queued without
waiting (:meth:`ProgressSender.emit`) and one task sends the queue in order.
If the shim stops reading and the queue fills up, further notifications are
dropped and counted in the log; they are a courtesy (``mission/status`` has
the truth), never a reason to slow a mission down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from opencode_orchestrator.core.missions.views import goal_line, wire_state
from opencode_orchestrator.core.missions.wire import Level, ProgressParams
from opencode_orchestrator.jsonrpc import JsonRpcError
from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.states import MissionState

__all__ = ["PROGRESS_METHOD", "Notify", "ProgressSender", "state_progress"]

PROGRESS_METHOD: Final = "mission/progress"
QUEUE_SIZE: Final = 256

Notify = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Sends one notification: ``Endpoint.notify``."""

_log = get_logger(__name__)
_M = MissionState
_LEVELS: Final[dict[MissionState, Level]] = {
    _M.SEALED: "info",
    _M.FAILED: "error",
    _M.BLOCKED: "warning",
    _M.BUDGET_EXCEEDED: "warning",
    _M.CANCELLED: "warning",
}


def state_progress(model: MissionModel) -> ProgressParams:
    """The notification for the state ``model`` just entered."""
    state = model.state
    mid = model.mission_id
    counts = model.counts()
    units = f"{counts.get('verified', 0)} of {len(model.units)} units verified"
    if state is _M.PLANNING:
        text = f"Mission {mid}: planning iteration {model.iteration}"
    elif state is _M.RUNNING:
        text = f"Mission {mid}: plan accepted, {len(model.units)} units; workers running"
    elif state is _M.BARRIER:
        text = f"Mission {mid}: every unit is done ({units})"
    elif state is _M.INTEGRATION_REVIEW:
        text = f"Mission {mid}: integration review of the whole change"
    elif state is _M.SEALED:
        text = f"Mission {mid} SEALED: {units}; every seal condition verified"
    else:
        text = f"Mission {mid} {wire_state(state)}: {goal_line(model.reason, 300)}"
    return ProgressParams(
        mission_id=mid, state=wire_state(state), text=text, level=_LEVELS.get(state, "info")
    )


class ProgressSender:
    """A bounded queue of progress notifications and the task that sends them in order."""

    def __init__(self, notify: Notify) -> None:
        self._notify = notify
        send, receive = anyio.create_memory_object_stream[ProgressParams](QUEUE_SIZE)
        self._send: MemoryObjectSendStream[ProgressParams] = send
        self._receive: MemoryObjectReceiveStream[ProgressParams] = receive
        self._dropped = 0

    def emit(self, params: ProgressParams) -> None:
        """Queue ``params``; never waits (a full queue drops it, and the log says so)."""
        _log.info(
            "mission.progress",
            mission=params.mission_id,
            state=params.state,
            level=params.level,
            text=params.text,
        )
        try:
            self._send.send_nowait(params)
        except anyio.WouldBlock:
            self._dropped += 1
            _log.warning("mission.progress.dropped", dropped=self._dropped, queue=QUEUE_SIZE)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            _log.debug("mission.progress.closed", mission=params.mission_id)

    async def run(self) -> None:
        """Send what is queued, in order, until cancelled or the connection closes."""
        async with self._receive:
            async for params in self._receive:
                try:
                    await self._notify(
                        PROGRESS_METHOD, params.model_dump(mode="json", by_alias=True)
                    )
                except JsonRpcError as exc:
                    # The connection is closing: nobody is left to tell.
                    _log.info("mission.progress.unsent", mission=params.mission_id, error=str(exc))
                    return
                except Exception:  # noqa: BLE001 - a notification must never stop the core
                    _log.exception("mission.progress.failed", mission=params.mission_id)

    def close(self) -> None:
        """Take no more notifications."""
        self._send.close()
