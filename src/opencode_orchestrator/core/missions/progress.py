"""``mission/progress``: what to tell the user, sent core -> shim.

The engine must never wait on the wire, so a notification is queued without
waiting (:meth:`ProgressSender.emit`) and one task sends the queue in order.
If the shim stops reading and the queue fills up, further notifications are
dropped and counted in the log; they are a courtesy (``mission/status`` has
the truth), never a reason to slow a mission down.

What to tell is decided per mission by a
:class:`~opencode_orchestrator.core.missions.narration.MissionNarrator`, fed
every record the mission's journal writes (:meth:`ProgressSender.observe`);
what it holds back for a moment (coalesced failures, the rate-limited
progress post) a second task sends when due. The end of a mission is told
once its report is written (:meth:`ProgressSender.ended`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from opencode_orchestrator.core.missions.ledger import UnitLedger
from opencode_orchestrator.core.missions.narration import MissionNarrator, NarrationPolicy
from opencode_orchestrator.core.missions.wire import ProgressParams
from opencode_orchestrator.jsonrpc import JsonRpcError
from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.model import MissionModel

__all__ = ["PROGRESS_METHOD", "Notify", "ProgressSender"]

PROGRESS_METHOD: Final = "mission/progress"
QUEUE_SIZE: Final = 256

Notify = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Sends one notification: ``Endpoint.notify``."""

_log = get_logger(__name__)


class ProgressSender:
    """A bounded queue of progress notifications and the task that sends them in order."""

    def __init__(
        self,
        notify: Notify,
        policy: NarrationPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notify = notify
        self.policy = policy or NarrationPolicy()
        self._clock = clock
        self._narrators: dict[str, MissionNarrator] = {}
        self._muted: set[str] = set()
        """Missions whose narrator failed when due: nothing more is held back for them."""
        self._wake = anyio.Event()
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
            kind=params.kind,
            toast=params.toast,
            post=params.post,
            text=params.text,
        )
        try:
            self._send.send_nowait(params)
        except anyio.WouldBlock:
            self._dropped += 1
            _log.warning("mission.progress.dropped", dropped=self._dropped, queue=QUEUE_SIZE)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            _log.debug("mission.progress.closed", mission=params.mission_id)

    def observe(self, model: MissionModel, record_type: str, data: dict[str, Any]) -> None:
        """Tell what a record of ``model``'s journal calls for (never waits)."""
        narrator = self._narrators.get(model.mission_id)
        if narrator is None or narrator.model is not model:  # new, or resumed
            narrator = MissionNarrator(model, self.policy, self._clock)
            self._narrators[model.mission_id] = narrator
            self._muted.discard(model.mission_id)
        before = narrator.deadline()
        for params in narrator.observe(record_type, data):
            self.emit(params)
        if narrator.deadline() != before:
            self._wake.set()

    def ended(self, model: MissionModel, report: str | None = None) -> None:
        """Tell the end of ``model``'s mission, in a final state (``report``: its path)."""
        narrator = self._narrators.get(model.mission_id)
        if narrator is None or narrator.model is not model:
            narrator = MissionNarrator(model, self.policy, self._clock)
        try:
            told = narrator.ended(report)
        except Exception:  # noqa: BLE001 - as in _tell_when_due
            _log.exception("mission.progress.narrator_failed", mission=model.mission_id)
            return
        for params in told:
            self.emit(params)

    def ledger(self, mission_id: str) -> UnitLedger | None:
        """The unit figures of a mission this core runs (``None``: none seen)."""
        narrator = self._narrators.get(mission_id)
        return narrator.ledger if narrator is not None else None

    def forget(self, mission_id: str) -> None:
        """The mission's run in this core ended: nothing more to tell of it, or to keep."""
        self._narrators.pop(mission_id, None)
        self._muted.discard(mission_id)

    async def run(self) -> None:
        """Send what is queued, in order, until cancelled or the connection closes."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._tell_when_due)
            await self._send_queued()
            group.cancel_scope.cancel()

    async def _tell_when_due(self) -> None:
        """Emit what narrators held back, each time the earliest of them is due.

        A narrator that raises is logged and muted (its mission runs on, untold):
        an error here would end the sender's task group, and with it the core.
        """
        while True:
            wake = self._wake = anyio.Event()
            earliest = self._earliest()
            if earliest is None:
                await wake.wait()
                continue
            with anyio.move_on_after(max(0.0, earliest - self._clock())):
                await wake.wait()
            now = self._clock()
            for mission_id, narrator in self._speaking():
                try:
                    told = narrator.due(now)
                except Exception:  # noqa: BLE001 - one narrator's bug must not stop the core
                    self._mute(mission_id)
                    continue
                for params in told:
                    self.emit(params)

    def _speaking(self) -> list[tuple[str, MissionNarrator]]:
        return [(m, n) for m, n in self._narrators.items() if m not in self._muted]

    def _earliest(self) -> float | None:
        times: list[float] = []
        for mission_id, narrator in self._speaking():
            try:
                deadline = narrator.deadline()
            except Exception:  # noqa: BLE001 - as in _tell_when_due
                self._mute(mission_id)
                continue
            if deadline is not None:
                times.append(deadline)
        return min(times, default=None)

    def _mute(self, mission_id: str) -> None:
        # Muted, not forgotten: its deadline, still past, would wake the loop at
        # once again; its ledger stays for the status table.
        _log.exception("mission.progress.narrator_failed", mission=mission_id)
        self._muted.add(mission_id)

    async def _send_queued(self) -> None:
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
