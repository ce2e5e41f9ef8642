"""A mission scenario: what the fake LLM's planner, workers and reviewers do, scripted.

End-to-end tests run a whole mission through a real ``opencode serve`` with
the fake LLM (:mod:`~opencode_orchestrator.testing.fake_llm`) as its model.
A :class:`Scenario` says, per role, how that model behaves; the
:class:`~opencode_orchestrator.testing.scenario_player.ScenarioPlayer` acts it
out request by request. Nothing here talks to a server.

* The **planner** answers iteration *n* with ``plans[n-1]`` (the last plan
  repeats), after ``malformed_plans`` malformed answers (:class:`Malformed`).
* A **worker** on its first turn of a unit first runs the ``explore`` commands
  with ``bash``, attempts the ``out_of_scope`` writes, then ``writes`` each
  file and applies ``edits`` with OpenCode's ``write``/``edit`` tools, runs
  the unit's checks with ``bash`` (if ``run_checks``) and reports ``done``.
  On a fix turn it writes ``fixes`` and reruns the checks. Any other turn
  (nudge, recovery, ...) just reports.
* A **reviewer** answers round *r* of a unit's final review with
  ``reviews[r-1]`` and shadow review *s* with ``shadow_reviews[s-1]``;
  rounds beyond the list pass. The **master** answers iteration *n* with
  ``master[n-1]``, passing beyond the list.
* ``rate_limit``: the first N model calls of that unit's worker (or of the
  planner) are answered ``429`` with ``Retry-After``.

Paths are relative to the project; the player makes them absolute from the
working directory OpenCode tells the model about.
"""

from __future__ import annotations

import enum
import re
from pathlib import PurePosixPath
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opencode_orchestrator.mission.contracts import PlanOutput, ReviewVerdict, UnitSpec, Verdict

__all__ = [
    "FileEdit",
    "FileWrite",
    "Malformed",
    "PlanScript",
    "Scenario",
    "UnitScript",
]

_ITERATION_ID: Final = re.compile(r"^i(\d+)-(.+)$")


def _relative(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ValueError(f"{path!r} must be a relative path inside the project")
    return path


class FileWrite(BaseModel):
    """A file a worker writes whole (``write`` tool)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    content: str


class FileEdit(BaseModel):
    """A replacement a worker makes in a file (``edit`` tool)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    old: str = Field(min_length=1)
    new: str

    @field_validator("path")
    @classmethod
    def _inside(cls, path: str) -> str:
        return _relative(path)


class Malformed(enum.StrEnum):
    """How the planner gets its structured output wrong."""

    SCHEMA = "schema"
    """Calls the structured-output tool with an object that is not a plan."""
    TEXT = "text"
    """Answers in prose without calling it (OpenCode reports StructuredOutputError)."""


class UnitScript(BaseModel):
    """One unit of the plan and how its worker and reviewer behave."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    description: str = ""
    files: list[str] = Field(default_factory=list, description="The unit's scope (plan field).")
    depends_on: list[str] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list)
    writes: list[FileWrite] = Field(default_factory=list)
    edits: list[FileEdit] = Field(default_factory=list)
    fixes: list[FileWrite] = Field(default_factory=list, description="Written on a fix turn.")
    out_of_scope: list[FileWrite] = Field(
        default_factory=list, description="Writes attempted first, outside the unit's files."
    )
    explore: list[str] = Field(
        default_factory=list, description="Shell commands run first, to look around (bash)."
    )
    run_checks: bool = True
    reviews: list[ReviewVerdict] = Field(default_factory=list)
    shadow_reviews: list[ReviewVerdict] = Field(default_factory=list)
    rate_limit: int = Field(default=0, ge=0)

    @field_validator("writes", "fixes")
    @classmethod
    def _writes_inside(cls, writes: list[FileWrite]) -> list[FileWrite]:
        for write in writes:
            _relative(write.path)
        return writes

    def spec(self) -> UnitSpec:
        """The unit as the planner puts it in its plan."""
        return UnitSpec(
            id=self.id,
            title=self.title,
            description=self.description or f"Implement {self.title}.",
            files=list(self.files),
            depends_on=list(self.depends_on),
            checks=list(self.checks),
        )

    def written(self) -> list[str]:
        """The files the worker's first turn changes, in order, each once."""
        paths = [w.path for w in self.writes] + [e.path for e in self.edits]
        return list(dict.fromkeys(paths))


class PlanScript(BaseModel):
    """The planner's answer for one iteration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: str = "scripted plan"
    units: list[UnitScript] = Field(min_length=1)
    checks: list[str] = Field(default_factory=list)
    learnings: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [u.id for u in self.units]
        if len(set(ids)) != len(ids):
            raise ValueError(f"unit ids repeat in a plan: {ids}")
        return self

    def output(self) -> PlanOutput:
        """The structured output the planner gives."""
        return PlanOutput(
            summary=self.summary,
            units=[u.spec() for u in self.units],
            checks=list(self.checks),
            learnings=list(self.learnings),
        )


class Scenario(BaseModel):
    """A whole mission, scripted role by role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    goal: str = Field(min_length=1)
    plans: list[PlanScript] = Field(min_length=1)
    master: list[ReviewVerdict] = Field(default_factory=list)
    malformed_plans: int = Field(default=0, ge=0)
    malformed_as: Malformed = Malformed.SCHEMA
    planner_rate_limit: int = Field(default=0, ge=0)

    def plan(self, iteration: int) -> PlanScript:
        """The plan for ``iteration`` (1-based; the last plan repeats)."""
        return self.plans[min(max(iteration, 1), len(self.plans)) - 1]

    def unit(self, unit_id: str) -> UnitScript | None:
        """The script of ``unit_id``: an id of plan 1, or ``i<n>-<id>`` of plan *n*."""
        match = _ITERATION_ID.match(unit_id)
        if match is not None and 1 < int(match.group(1)) <= len(self.plans):
            plan, wanted = self.plans[int(match.group(1)) - 1], match.group(2)
        else:
            plan, wanted = self.plans[0], unit_id
        return next((u for u in plan.units if u.id == wanted), None)

    def master_verdict(self, iteration: int) -> ReviewVerdict:
        """The master's verdict in ``iteration`` (1-based); pass beyond the list."""
        if 1 <= iteration <= len(self.master):
            return self.master[iteration - 1]
        return ReviewVerdict(verdict=Verdict.PASS)

    def expected_files(self) -> dict[str, str]:
        """What every scripted write and edit leaves on disk, fixes included."""
        files: dict[str, str] = {}
        for plan in self.plans:
            for unit in plan.units:
                files.update({w.path: w.content for w in unit.writes})
                for edit in unit.edits:
                    files[edit.path] = files.get(edit.path, "").replace(edit.old, edit.new, 1)
                if any(r.verdict is Verdict.FAIL for r in unit.reviews):
                    files.update({w.path: w.content for w in unit.fixes})
        return files
