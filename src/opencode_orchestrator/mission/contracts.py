"""The contracts between the orchestrator and the agents it runs in OpenCode.

Each role is an OpenCode agent (registered by the plugin shim) that answers
with structured output (``format: json_schema``) in one of the models below:

=====================  ==================  =====================================
agent                  asked for           answers with
=====================  ==================  =====================================
``mission-planner``    the goal            :class:`PlanOutput` (a DAG of units)
``mission-worker``     one unit's brief    :class:`WorkerReport`
``mission-reviewer``   one unit's change   :class:`ReviewVerdict`
``mission-master``     the whole change    :class:`ReviewVerdict`
=====================  ==================  =====================================

A worker's or reviewer's prompt carries the unit itself, machine-readable, in
a ``<unit>{json}</unit>`` element (:func:`render_unit_brief`), so that a
scripted agent (the simulator) can act on it without parsing prose.
"""

from __future__ import annotations

import enum
import re
from typing import Final

import orjson
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AGENT_MASTER_REVIEWER",
    "AGENT_PLANNER",
    "AGENT_REVIEWER",
    "AGENT_WORKER",
    "MISSION_AGENTS",
    "Finding",
    "PlanOutput",
    "ReviewVerdict",
    "Severity",
    "UnitSpec",
    "Verdict",
    "WorkerOutcome",
    "WorkerReport",
    "parse_unit_brief",
    "render_unit_brief",
]

AGENT_PLANNER: Final = "mission-planner"
AGENT_WORKER: Final = "mission-worker"
AGENT_REVIEWER: Final = "mission-reviewer"
AGENT_MASTER_REVIEWER: Final = "mission-master"
MISSION_AGENTS: Final = (AGENT_PLANNER, AGENT_WORKER, AGENT_REVIEWER, AGENT_MASTER_REVIEWER)

_UNIT_RE: Final = re.compile(r"<unit>(.*?)</unit>", re.DOTALL)


class UnitSpec(BaseModel):
    """One unit of work in a plan: a node of the DAG."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    title: str = Field(min_length=1)
    description: str = Field(default="", description="The instructions for the worker.")
    files: list[str] = Field(
        default_factory=list,
        description="Paths or globs (relative to the project) the unit may change.",
    )
    depends_on: list[str] = Field(default_factory=list, description="Ids of units that come first.")
    checks: list[str] = Field(
        default_factory=list, description="Shell commands that must pass once the unit is done."
    )
    race: int = Field(
        default=1,
        ge=1,
        le=8,
        description="How many strategies race for this unit (each in its own worktree).",
    )


class PlanOutput(BaseModel):
    """The planner's answer."""

    model_config = ConfigDict(extra="forbid")

    summary: str
    units: list[UnitSpec] = Field(min_length=1)
    checks: list[str] = Field(
        default_factory=list,
        description="Commands that verify the whole mission (e.g. the test suite).",
    )
    learnings: list[str] = Field(
        default_factory=list,
        description="Facts about the project worth keeping (conventions, test command, pitfalls).",
    )


class WorkerOutcome(enum.StrEnum):
    """How a worker ended its unit."""

    DONE = "done"
    BLOCKED = "blocked"
    SPLIT = "split"


class WorkerReport(BaseModel):
    """A worker's answer: what it did to its unit."""

    model_config = ConfigDict(extra="forbid")

    outcome: WorkerOutcome
    summary: str
    files_changed: list[str] = Field(default_factory=list)
    subunits: list[UnitSpec] = Field(
        default_factory=list, description="With outcome 'split': the sub-units to run instead."
    )
    learnings: list[str] = Field(
        default_factory=list, description="Facts about the project worth keeping."
    )


class Severity(enum.StrEnum):
    """How much a review finding matters."""

    BLOCKER = "blocker"
    MAJOR = "major"
    MINOR = "minor"


class Finding(BaseModel):
    """One problem a reviewer found."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity
    message: str
    file: str | None = None


class Verdict(enum.StrEnum):
    """A reviewer's decision."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"


class ReviewVerdict(BaseModel):
    """A reviewer's answer (shadow or master)."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    findings: list[Finding] = Field(default_factory=list)
    learnings: list[str] = Field(
        default_factory=list, description="Facts about the project worth keeping."
    )


_BRIEFS: Final[dict[int, tuple[UnitSpec, str]]] = {}
"""id(spec) -> the spec (held, so its id is not reused) and its brief, newest last."""
_BRIEFS_KEPT: Final = 512
"""More than the units running at once (two runners per slot), each asked for a brief
per worker and per review turn."""


def render_unit_brief(unit: UnitSpec) -> str:
    """The machine-readable element a worker's or reviewer's prompt carries."""
    # Every prompt of a unit carries the same brief: it is dumped once while the unit
    # runs. A spec is never changed once planned (a changed unit is a model_copy, a
    # new object), so the one it was rendered from is the one asked about.
    cached = _BRIEFS.get(id(unit))
    if cached is not None and cached[0] is unit:
        return cached[1]
    brief = f"<unit>{orjson.dumps(unit.model_dump(mode='json')).decode()}</unit>"
    if len(_BRIEFS) >= _BRIEFS_KEPT:
        del _BRIEFS[next(iter(_BRIEFS))]  # the oldest: its unit has most likely ended
    _BRIEFS[id(unit)] = (unit, brief)
    return brief


def parse_unit_brief(text: str) -> UnitSpec | None:
    """The unit in a prompt written with :func:`render_unit_brief`, or ``None``."""
    match = _UNIT_RE.search(text)
    if match is None:
        return None
    try:
        return UnitSpec.model_validate_json(match.group(1))
    except ValueError:
        return None
