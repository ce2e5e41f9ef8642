"""What to tell the user about one mission, and when: the decisions behind ``mission/progress``.

From the records its journal writes, a :class:`MissionNarrator` decides:

* a **phase change** (every ``mission.state``: RUNNING, BARRIER, …) is a
  toast and a post into the mission's session, at once; a **final state**
  waits for the mission's report (:meth:`MissionNarrator.ended`), so that its
  post can say where the report is;
* **failed units** are a toast and a post too, but those failing within
  :attr:`NarrationPolicy.failure_window` of the first are told together
  ("3 units failed: a, b, c"), so a wave of failures is one toast, not a storm;
* **progress** ("12/20 units verified, 3 running, 45.2k tokens, $0.21 of
  $5.00") is a post only, at most one per :attr:`NarrationPolicy.progress_interval`
  (phase posts count), and only when its text changed.

Failures and progress wait for a moment (:meth:`MissionNarrator.deadline`);
whoever drives the narrator calls :meth:`MissionNarrator.due` then. The
narrator does no I/O and reads time from the clock it is given, so tests
drive it without waiting. It also keeps the mission's :class:`UnitLedger`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from opencode_orchestrator.core.missions.ledger import UnitLedger
from opencode_orchestrator.core.missions.views import goal_line, wire_state
from opencode_orchestrator.core.missions.wire import Level, ProgressKind, ProgressParams, Variant
from opencode_orchestrator.mission.figures import caps_of, cost_text, tokens_text
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState, UnitState

__all__ = [
    "FAILURE_WINDOW",
    "PROGRESS_INTERVAL",
    "MissionNarrator",
    "NarrationPolicy",
    "ended_progress",
    "state_progress",
]

PROGRESS_INTERVAL: Final = 30.0
"""Seconds between two posts of a mission's progress, at least."""
FAILURE_WINDOW: Final = 2.0
"""Units failing within this many seconds of the first are told in one notification."""

_M = MissionState
_LEVELS: Final[dict[MissionState, Level]] = {
    _M.SEALED: "info",
    _M.FAILED: "error",
    _M.BLOCKED: "warning",
    _M.BUDGET_EXCEEDED: "warning",
    _M.CANCELLED: "warning",
}


@dataclass(frozen=True, slots=True)
class NarrationPolicy:
    """How often the user hears of a mission."""

    progress_interval: float = PROGRESS_INTERVAL
    failure_window: float = FAILURE_WINDOW
    names_shown: int = 8
    """Failed units named in one notification; the others are counted."""


def _verified(model: MissionModel) -> str:
    return f"{model.counts().get('verified', 0)} of {len(model.units)} units verified"


def _spent(model: MissionModel) -> str:
    return f"{tokens_text(model.tokens)} tokens, {cost_text(model.cost)}"


def state_progress(model: MissionModel) -> ProgressParams:
    """The phase notification for the state ``model`` just entered: a toast and a post."""
    state = model.state
    mid = model.mission_id
    if state is _M.PLANNING:
        text = f"Mission {mid}: planning iteration {model.iteration}"
        if model.reason:
            text += f" ({goal_line(model.reason, 200)})"
    elif state is _M.RUNNING:
        text = f"Mission {mid}: plan accepted, {len(model.units)} units; workers running"
    elif state is _M.BARRIER:
        text = f"Mission {mid}: every unit is done ({_verified(model)})"
    elif state is _M.INTEGRATION_REVIEW:
        text = f"Mission {mid}: integration review of the whole change"
    elif state is _M.SEALED:
        text = (
            f"Mission {mid} SEALED: {_verified(model)}; every seal condition verified "
            f"({_spent(model)})"
        )
    else:
        why = goal_line(model.reason, 300)
        text = f"Mission {mid} {wire_state(state)}: {why} ({_spent(model)})"
    level = _LEVELS.get(state, "info")
    variant: Variant = "success" if state is _M.SEALED else level
    return ProgressParams(
        mission_id=mid,
        state=wire_state(state),
        text=text,
        level=level,
        toast=True,
        post=model.parent_session is not None,
        session_id=model.parent_session,
        variant=variant,
        kind="phase",
    )


def ended_progress(model: MissionModel, report: str | None) -> list[ProgressParams]:
    """The end of a mission in a final state: its phase notification, saying where its report is.

    With a ``report`` (its path) and a session, two notifications: the toast,
    then the post with the report's path (a notification has one text for
    both). Otherwise one, as for any phase.
    """
    told = state_progress(model)
    if report is None or not told.post:
        return [told]
    post = told.model_copy(update={"toast": False, "text": f"{told.text}\nReport: {report}"})
    return [told.model_copy(update={"post": False}), post]


class MissionNarrator:
    """Turns one mission's records into notifications (see the module's docstring)."""

    def __init__(
        self,
        model: MissionModel,
        policy: NarrationPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.policy = policy or NarrationPolicy()
        self.ledger = UnitLedger(model)
        self._clock = clock
        self._failed: list[str] = []
        self._failures_due: float | None = None
        self._changed = False
        self._last_post = clock()
        self._last_line = ""

    @property
    def finished(self) -> bool:
        """Whether the mission reached a final state (nothing more will be told)."""
        return self.model.state.final

    def observe(self, record_type: str, data: dict[str, Any]) -> list[ProgressParams]:
        """Fold one written record in; what to send now (in order)."""
        self.ledger.observe(record_type, data)
        if record_type == RecordType.MISSION_STATE:
            told = self._failures()
            if not self.model.state.final:  # the end is told by ended(), after the report
                told.append(state_progress(self.model))
            self._last_post = self._clock()
            self._changed = False
            return told
        if record_type == RecordType.UNIT_STATE:
            self._changed = True
            if data.get("state") == UnitState.FAILED.value:
                self._failed.append(str(data["unit"]))
                if self._failures_due is None:
                    self._failures_due = self._clock() + self.policy.failure_window
        elif record_type == RecordType.TURN_ENDED:
            self._changed = True
        return []

    def ended(self, report: str | None = None) -> list[ProgressParams]:
        """The mission's end, once its report is written (``report``: where; ``None``: none)."""
        if not self.model.state.final:
            return []
        return [*self._failures(), *ended_progress(self.model, report)]

    def deadline(self) -> float | None:
        """When :meth:`due` has something to send (clock time), ``None``: nothing waits."""
        times = []
        if self._failures_due is not None:
            times.append(self._failures_due)
        if self._changed and self._may_post_progress():
            times.append(self._last_post + self.policy.progress_interval)
        return min(times) if times else None

    def due(self, now: float | None = None) -> list[ProgressParams]:
        """What is due at ``now`` (default: the clock's time), in order."""
        now = self._clock() if now is None else now
        told: list[ProgressParams] = []
        if self._failures_due is not None and now >= self._failures_due:
            told = self._failures()
        if (
            self._changed
            and self._may_post_progress()
            and now >= self._last_post + self.policy.progress_interval
        ):
            self._changed = False
            line = self.progress_line()
            if line != self._last_line:
                self._last_line = line
                self._last_post = now
                told.append(self._progress(line))
        return told

    def progress_line(self) -> str:
        """``Mission m: 12/20 units verified, 3 running; 45.2k tokens, $0.21 of $5.00``."""
        model = self.model
        units = model.units.values()
        running = sum(1 for u in units if u.state.active)
        failed = sum(1 for u in units if u.state is UnitState.FAILED)
        counts = f"{model.counts().get('verified', 0)}/{len(model.units)} units verified"
        counts += f", {running} running"
        if failed:
            counts += f", {failed} failed"
        caps = caps_of(model)
        tokens = tokens_text(model.tokens)
        if caps.tokens is not None:
            tokens += f" of {tokens_text(caps.tokens)}"
        cost = cost_text(model.cost)
        if caps.cost is not None:
            cost += f" of {cost_text(caps.cost)}"
        return f"Mission {model.mission_id}: {counts}; {tokens} tokens, {cost}"

    def _may_post_progress(self) -> bool:
        # Progress is a post only: without a session to post into, nothing to tell.
        model = self.model
        return model.parent_session is not None and bool(model.units) and not model.state.final

    def _failures(self) -> list[ProgressParams]:
        failed, self._failed = self._failed, []
        self._failures_due = None
        if not failed:
            return []
        model = self.model
        if len(failed) == 1:
            unit = model.units.get(failed[0])
            why = f": {goal_line(unit.reason, 200)}" if unit is not None and unit.reason else ""
            text = f"Mission {model.mission_id}: unit {failed[0]} failed{why}"
        else:
            shown = failed[: self.policy.names_shown]
            names = ", ".join(shown)
            if len(failed) > len(shown):
                names += f" and {len(failed) - len(shown)} more"
            text = f"Mission {model.mission_id}: {len(failed)} units failed: {names}"
        return [self._told(text, "error", toast=True, kind="failures")]

    def _progress(self, line: str) -> ProgressParams:
        return self._told(line, "info", toast=False, kind="progress")

    def _told(self, text: str, level: Level, *, toast: bool, kind: ProgressKind) -> ProgressParams:
        session = self.model.parent_session
        return ProgressParams(
            mission_id=self.model.mission_id,
            state=wire_state(self.model.state),
            text=text,
            level=level,
            toast=toast,
            post=session is not None,
            session_id=session,
            variant=level,
            kind=kind,
        )
