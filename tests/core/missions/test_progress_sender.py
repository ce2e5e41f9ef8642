"""The sender of ``mission/progress``: sends at once what is told at once, the rest when due."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from opencode_orchestrator.core.missions.narration import MissionNarrator, NarrationPolicy
from opencode_orchestrator.core.missions.progress import PROGRESS_METHOD, ProgressSender
from opencode_orchestrator.core.missions.wire import ProgressParams
from tests.core.missions.harness import BOUND
from tests.core.missions.modelsupport import journaled

pytestmark = pytest.mark.anyio


class Wire:
    """The notifications sent, and a way to wait for them."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._changed = anyio.Event()

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        assert method == PROGRESS_METHOD
        self.sent.append(params)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, kind: str) -> dict[str, Any]:
        with anyio.fail_after(BOUND):
            while not any(p["kind"] == kind for p in self.sent):
                await self._changed.wait()
        return next(p for p in self.sent if p["kind"] == kind)


async def test_held_back_notifications_are_sent_when_due_and_in_camel_case() -> None:
    wire = Wire()
    # Short waits: the test waits for the notifications, never for a fixed time. The
    # progress post is due long after the failures (0.5 s after the phase, they 0.01 s
    # after the failure), so they come first however slowly this test is scheduled.
    sender = ProgressSender(
        wire.notify, NarrationPolicy(progress_interval=0.5, failure_window=0.01)
    )
    book = journaled(["a", "b"], running=False)
    book.observers.append(lambda kind, data: sender.observe(book.model, kind, data))
    async with anyio.create_task_group() as group:
        group.start_soon(sender.run)
        book.state("running")
        phase = await wire.wait_for("phase")
        assert phase["state"] == "RUNNING"
        assert phase["sessionId"] == "ses_parent"
        assert (phase["toast"], phase["post"], phase["variant"]) == (True, True, "info")
        book.run_unit("a", end="failed")
        failures = await wire.wait_for("failures")
        assert failures["text"] == "Mission m-test1234: unit a failed: it broke"
        progress = await wire.wait_for("progress")
        assert progress["text"].startswith(
            "Mission m-test1234: 0/2 units verified, 0 running, 1 failed"
        )
        assert progress["toast"] is False
        # The ledger serves the status table while the mission runs here.
        ledger = sender.ledger("m-test1234")
        assert ledger is not None
        figures = ledger.get("a")
        assert figures is not None
        assert figures.tokens == 1000
        sender.forget("m-test1234")
        assert sender.ledger("m-test1234") is None
        sender.close()
    assert [p["kind"] for p in wire.sent] == ["phase", "failures", "progress"]


async def test_a_forgotten_mission_tells_nothing_more() -> None:
    wire = Wire()
    sender = ProgressSender(wire.notify, NarrationPolicy(failure_window=0.01))
    book = journaled(["a"])
    book.observers.append(lambda kind, data: sender.observe(book.model, kind, data))
    other = journaled(["x"], mission_id="m-other")
    other.observers.append(lambda kind, data: sender.observe(other.model, kind, data))
    async with anyio.create_task_group() as group:
        group.start_soon(sender.run)
        book.run_unit("a", end="failed")
        sender.forget("m-test1234")  # its run stopped before the failure was due
        # The other mission's failure is due later: by the time it is sent, the
        # forgotten one's would have been.
        other.run_unit("x", end="failed")
        await wire.wait_for("failures")
        sender.close()
    assert [p["missionId"] for p in wire.sent] == ["m-other"]


async def test_a_narrator_that_fails_when_due_is_muted_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    due = MissionNarrator.due

    def broken(self: MissionNarrator, now: float | None = None) -> list[ProgressParams]:
        if self.model.mission_id == "m-test1234":
            raise RuntimeError("a bug in the narrator")
        return due(self, now)

    monkeypatch.setattr(MissionNarrator, "due", broken)
    wire = Wire()
    sender = ProgressSender(wire.notify, NarrationPolicy(failure_window=0.01))
    book = journaled(["a", "b"])
    book.observers.append(lambda kind, data: sender.observe(book.model, kind, data))
    other = journaled(["x"], mission_id="m-other")
    other.observers.append(lambda kind, data: sender.observe(other.model, kind, data))
    with capture_logs() as logs:
        async with anyio.create_task_group() as group:
            group.start_soon(sender.run)
            book.run_unit("a", end="failed")  # its failure falls due first: the narrator raises
            other.run_unit("x", end="failed")
            told = await wire.wait_for("failures")
            # What the broken narrator tells at once is still told.
            book.state("barrier")
            phase = await wire.wait_for("phase")
            sender.close()
    assert told["missionId"] == "m-other"
    assert (phase["missionId"], phase["state"]) == ("m-test1234", "BARRIER")
    failed = [entry for entry in logs if entry["event"] == "mission.progress.narrator_failed"]
    assert [entry["mission"] for entry in failed] == ["m-test1234"]
