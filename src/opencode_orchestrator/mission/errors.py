"""Errors of the mission engine, each with a stable string ``code``.

The tree, all of it below :class:`~opencode_orchestrator.errors.OrchestratorError`::

    MissionError                  mission
    ├── PlanInvalidError          mission.plan.invalid     a plan that breaks the rules
    ├── TransitionError           mission.transition       a state change the machine forbids
    ├── MissionNotFoundError      mission.not_found        no mission with that id
    ├── MissionStateError         mission.state            an operation the mission's state refuses
    ├── BudgetExceededError       mission.budget           a cap (tokens, cost, wall time) reached
    ├── ReviewUnavailableError    mission.review.unavailable  the master review gave no verdict
    ├── CheckError                mission.check            a check command could not be run at all
    └── WorktreeError             mission.worktree         a git operation failed, or git is missing

A check that *runs and fails* is not an error: it is evidence, recorded and
sent back to the worker. Codes are part of the public contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final

from opencode_orchestrator.errors import OrchestratorError

__all__ = [
    "BudgetExceededError",
    "CheckError",
    "MissionError",
    "MissionNotFoundError",
    "MissionStateError",
    "PlanInvalidError",
    "ReviewUnavailableError",
    "TransitionError",
    "WorktreeError",
]


class MissionError(OrchestratorError):
    """Root of every error of the mission engine."""

    code: ClassVar[str] = "mission"


class PlanInvalidError(MissionError):
    """A plan broke one or more rules; ``problems`` says which, one line each.

    The text goes back to the planner verbatim, so each problem names the unit,
    the path or the cycle at fault.
    """

    code: ClassVar[str] = "mission.plan.invalid"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid plan: " + "; ".join(self.problems))


class TransitionError(MissionError):
    """A state change that the mission's or a unit's state machine does not allow."""

    code: ClassVar[str] = "mission.transition"

    def __init__(self, what: str, current: str, target: str) -> None:
        self.what = what
        self.current = current
        self.target = target
        super().__init__(f"{what}: transition {current} -> {target} is not allowed")


class MissionNotFoundError(MissionError):
    """No mission with that id (or no unfinished one, for resume)."""

    code: ClassVar[str] = "mission.not_found"


class MissionStateError(MissionError):
    """The mission's state refuses the operation (e.g. resuming a sealed mission)."""

    code: ClassVar[str] = "mission.state"


class BudgetExceededError(MissionError):
    """A mission cap was reached; ``cap`` names it (``tokens``, ``cost`` or ``wall_time``)."""

    code: ClassVar[str] = "mission.budget"

    def __init__(
        self,
        cap: str,
        used: float,
        limit: float,
        *,
        spent: float | None = None,
        reserve: float | None = None,
    ) -> None:
        """``used``: what passed ``limit``; ``spent``, when given: how much of it was spent.

        The rest is what reservations hold for turns starting or under way;
        ``reserve``, when given, is the one that did not fit (the next turn's).
        """
        self.cap = cap
        self.used = used
        self.limit = limit
        self.spent = used if spent is None else spent
        label = _LABELS.get(cap, cap)
        message = f"budget exceeded: {label} {_amount(cap, used)} of {_amount(cap, limit)}"
        if spent is not None and spent != used:
            rest = "the rest estimated for turns starting or under way"
            message += f" ({_amount(cap, spent)} spent, {rest})"
        if reserve is not None and reserve > limit:
            # The cap is below what one turn reserves: no turn can ever start under it.
            key = f"budget.reserve_{cap}"
            message += (
                f"; each turn first reserves {_amount(cap, reserve)} ({key}): "
                f"raise the cap or lower {key}"
            )
        super().__init__(message)


_LABELS: Final = {"wall_time": "wall time"}


def _amount(cap: str, value: float) -> str:
    # Seconds, dollars and tokens as people read them ("2.0 s", "$0.5123", "5,000").
    if cap == "wall_time":
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    if cap == "cost":
        return f"${value:.4f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


class CheckError(MissionError):
    """A check command could not be started (not found, bad working directory)."""

    code: ClassVar[str] = "mission.check"


class WorktreeError(MissionError):
    """A git operation on the project or one of its worktrees failed (or git is missing).

    The message names the git command and carries its stderr.
    """

    code: ClassVar[str] = "mission.worktree"


class ReviewUnavailableError(MissionError):
    """The master reviewer gave no verdict, asked as often as the rule allows.

    Not findings (a provider's error is nothing a worker can fix) and not a
    final state: the mission stops in INTEGRATION_REVIEW, and ``resume`` asks
    the master again.
    """

    code: ClassVar[str] = "mission.review.unavailable"
