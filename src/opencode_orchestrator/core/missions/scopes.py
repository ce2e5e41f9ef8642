"""``scope/check``: may a session's tool call write these paths? In memory, no I/O.

Every child session a mission in this core creates is filed here when its
``session.created`` record is written (and, for a resumed mission, from the
replayed model), with its role, its unit and that unit's file scope:

* a session no mission here knows (the user's own, a mission's parent
  session) is **allowed** anything: the core does not police it (the
  sessions of missions other processes run are looked up in their journals
  first: :mod:`~opencode_orchestrator.core.missions.foreign`);
* a **worker** may write a path only inside the directory it works in (the
  project, or its race's worktree) and inside its unit's scope
  (:func:`~opencode_orchestrator.mission.scopes.scope_matches`: literal
  entries cover what is below them, globs what they match);
* any other role (planner, reviewer, master reviewer) writes **nothing**.

Paths are absolute, or relative to the session's directory; they are
normalised lexically (``a/../b``), so a ``..`` that climbs out of the
directory is refused. Symbolic links are not followed: that would take I/O
on the path of every edit. The reasons are written for the model whose tool
call is refused: which path, which unit, what its scope is, and to report the
need in its final answer instead. Sessions are forgotten when their mission
reaches a final state.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any, Final

from opencode_orchestrator.core.missions.wire import ScopeCheckResult
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.scopes import scope_matches

__all__ = ["SessionScope", "SessionScopes"]

WORKER: Final = "worker"
_SCOPE_SHOWN: Final = 12


@dataclass(frozen=True, slots=True)
class SessionScope:
    """What one mission session may write."""

    mission_id: str
    role: str
    unit_id: str | None
    base: str
    """The absolute, normalised directory the session works in."""
    files: tuple[str, ...]
    """Its unit's scope (paths and globs relative to ``base``)."""


class SessionScopes:
    """The sessions of the missions in this core, by session id."""

    def __init__(self) -> None:
        self._sessions: dict[str, SessionScope] = {}
        self._by_mission: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> SessionScope | None:
        """The scope filed for ``session_id``, if any."""
        return self._sessions.get(session_id)

    def add_record(self, model: MissionModel, data: dict[str, Any]) -> None:
        """File the session of a ``session.created`` record of ``model``'s mission."""
        unit_id = data.get("unit")
        unit = model.units.get(unit_id) if unit_id is not None else None
        base = posixpath.normpath(data.get("directory") or model.project)
        scope = SessionScope(
            mission_id=model.mission_id,
            role=str(data.get("role", "")),
            unit_id=unit_id,
            base=base,
            files=tuple(unit.spec.files) if unit is not None else (),
        )
        session = str(data["session"])
        self._sessions[session] = scope
        self._by_mission.setdefault(model.mission_id, set()).add(session)

    def add_model(self, model: MissionModel) -> None:
        """File every session ``model`` still knows (a mission just resumed)."""
        for data in list(model.sessions.values()):
            self.add_record(model, data)

    def forget_mission(self, mission_id: str) -> None:
        """Drop the sessions of a mission that ended."""
        for session in self._by_mission.pop(mission_id, set()):
            self._sessions.pop(session, None)

    def check(self, session_id: str, tool: str, paths: list[str]) -> ScopeCheckResult:
        """The verdict on ``tool`` writing ``paths`` in ``session_id``."""
        scope = self._sessions.get(session_id)
        if scope is None:
            return ScopeCheckResult(allowed=True)
        refused = ScopeCheckResult(
            allowed=False, mission_id=scope.mission_id, unit_id=scope.unit_id
        )
        if scope.role != WORKER:
            refused.reason = _not_a_writer(scope, tool)
            return refused
        for path in paths:
            relative = _inside(scope.base, path)
            if relative is None:
                refused.reason = _outside_directory(scope, tool, path)
                return refused
            if not scope_matches(scope.files, relative):
                refused.reason = _outside_scope(scope, tool, relative)
                return refused
        return ScopeCheckResult(allowed=True, mission_id=scope.mission_id, unit_id=scope.unit_id)


def _inside(base: str, path: str) -> str | None:
    """``path`` relative to ``base`` when it lies strictly inside it, else ``None``."""
    if not path:
        return None
    joined = path if posixpath.isabs(path) else posixpath.join(base, path)
    normal = posixpath.normpath(joined)
    prefix = base if base.endswith("/") else base + "/"
    if not normal.startswith(prefix):
        return None
    return normal[len(prefix) :]


def _scope_text(files: tuple[str, ...]) -> str:
    if not files:
        return "(empty: this unit may not change any file)"
    shown = ", ".join(files[:_SCOPE_SHOWN])
    more = len(files) - _SCOPE_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


_REPORT: Final = (
    "Do not write outside your scope. If this change is needed, do not make it: "
    "say in your final report which file needs what change, and why."
)


def _outside_scope(scope: SessionScope, tool: str, relative: str) -> str:
    return (
        f"{tool} refused: {relative or '.'} is outside the file scope of unit "
        f"{scope.unit_id} (mission {scope.mission_id}), which is: {_scope_text(scope.files)}. "
        + _REPORT
    )


def _outside_directory(scope: SessionScope, tool: str, path: str) -> str:
    return (
        f"{tool} refused: {path or '(empty path)'} is not inside {scope.base}, the directory "
        f"unit {scope.unit_id} (mission {scope.mission_id}) works in; its scope is: "
        f"{_scope_text(scope.files)}. " + _REPORT
    )


def _not_a_writer(scope: SessionScope, tool: str) -> str:
    of_unit = f" for unit {scope.unit_id}" if scope.unit_id is not None else ""
    role = scope.role or "a session"
    return (
        f"{tool} refused: this session is the {role}{of_unit} of mission {scope.mission_id}, "
        "which must not change files. Put what should change (which file, what, why) in "
        "your answer instead."
    )
