"""Parameters and results of the mission methods, as they travel (camelCase on the wire).

Unknown fields are ignored, so the shim may send more than this version knows.
Mission ids are checked against the WAL's id pattern here: one that could
name a path outside the missions directory is refused with ``-32602``.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, StringConstraints

from opencode_orchestrator.core.methods import WireModel
from opencode_orchestrator.mission.config import MissionConfig

__all__ = [
    "AgentsResult",
    "MissionActionResult",
    "MissionEntry",
    "MissionParams",
    "ProgressKind",
    "ProgressParams",
    "ScopeCheckParams",
    "ScopeCheckResult",
    "StartParams",
    "StartResult",
    "StatusParams",
    "StatusResult",
    "Variant",
]

MISSION_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

MissionId = Annotated[str, StringConstraints(pattern=MISSION_ID_PATTERN)]
Goal = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100_000)]
Level = Literal["info", "warning", "error"]
Variant = Literal["info", "success", "warning", "error"]
ProgressKind = Literal["notice", "phase", "failures", "progress"]


class StartParams(WireModel):
    """``mission/start``: a new mission in the background."""

    goal: Goal
    parent_session_id: str | None = Field(default=None, min_length=1)
    directory: str | None = None
    """The project (default: ``initialize.directory``); absolute, an existing directory."""
    config: MissionConfig | None = None
    """Extension: the mission's limits, budget and checks (snake_case fields, as in the
    WAL's ``mission.created``); default: the engine's defaults."""


class StartResult(WireModel):
    """The mission is journaled and runs."""

    mission_id: str
    state: str
    directory: str
    message: str


class MissionParams(WireModel):
    """``mission/cancel`` and ``mission/resume``: one mission (default: the obvious one)."""

    mission_id: MissionId | None = None
    directory: str | None = None
    """Extension: where the mission lives (default: ``initialize.directory``)."""


class StatusParams(MissionParams):
    """``mission/status``: one mission, or the directory's newest ones."""

    session_id: str | None = Field(default=None, min_length=1)
    """Extension: the session asking. Without ``missionId`` the table shows the newest
    mission started from this session, else the directory's newest mission."""


class MissionActionResult(WireModel):
    """What ``mission/cancel`` and ``mission/resume`` did."""

    mission_id: str
    state: str
    message: str


class MissionEntry(WireModel):
    """One mission as ``mission/status`` describes it."""

    mission_id: str
    goal: str
    state: str
    reason: str
    iteration: int
    units: dict[str, int]
    """Unit state -> how many units are in it."""
    started_at: float
    """Seconds since the epoch (UTC), as the WAL records them."""
    ended_at: float | None
    """When a final state was reached; ``None`` while the mission is unfinished."""
    running: bool
    """Whether this core process runs it now."""
    error: str | None = None
    """Extension: why its run in this core stopped before a final state, if it did."""
    parent_session_id: str | None = None
    """Extension: the session the mission was started from (its sessions' parent)."""


class StatusResult(WireModel):
    """``mission/status``: the missions, newest first, and a summary to show."""

    missions: list[MissionEntry]
    text: str
    """Markdown for a person: the shown mission's table of units and totals against its
    budget, then a line for each other mission."""
    mission_id: str | None = None
    """Extension: the mission whose table ``text`` shows (``None``: there is none)."""


class ScopeCheckParams(WireModel):
    """``scope/check``: may this session's tool call write these paths?"""

    session_id: str
    tool: str
    paths: list[str] = Field(max_length=10_000)


class ScopeCheckResult(WireModel):
    """The verdict; ``reason`` is written for the model whose tool call is refused."""

    allowed: bool
    reason: str | None = None
    mission_id: str | None = None
    unit_id: str | None = None


class ProgressParams(WireModel):
    """``mission/progress`` (core -> shim): something worth telling the user.

    The core decides how: a toast, a post into the mission's session, or both;
    the shim only shows it. A shim that knows only the first four fields shows
    every notification as a toast, as before.
    """

    mission_id: str
    state: str
    text: str
    level: Level
    toast: bool = True
    """Show ``text`` as a toast."""
    post: bool = False
    """Post ``text`` into ``session_id`` as a message that starts no model turn (``noReply``)."""
    session_id: str | None = None
    """The mission's session: the one it was started from (``None``: none to post into)."""
    variant: Variant | None = None
    """The toast's look (``None``: from ``level``)."""
    kind: ProgressKind = "notice"
    """``phase``: the mission entered ``state``; ``failures``: units failed (coalesced);
    ``progress``: the periodic counts; ``notice``: anything else (started, resumed, stopped)."""


class AgentsResult(WireModel):
    """``agents/list``: the mission agents, as OpenCode's config registers them."""

    agents: dict[str, dict[str, str]]
