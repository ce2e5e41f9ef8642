"""File scopes of the missions this core does not run, read from their journals.

A core polices the sessions of its own missions from memory
(:mod:`~opencode_orchestrator.core.missions.scopes`). Two kinds of mission
session reach a core that never filed them, and were allowed anything:

* the sessions of a mission another process runs in the project (a terminal's
  ``run --server`` beside the plugin): OpenCode asks this project's core;
* the sessions of a racing strategy: its worktree
  (``<project>/.opencode/orchestrator/worktrees/<name>``) is a git top level of
  its own, so OpenCode opens an instance for it, loads the plugin there, and
  that instance's core is asked about the strategy's edits.

So a session no mission of this core knows is looked up in the journals of the
project's missions (the worktree's project, for a worktree) before it is let
through. Each journal is followed (:class:`~opencode_orchestrator.mission.follow.
JournalFollower`: only what was appended since), lock-free, in a worker thread;
a mission in a final state is no longer read, and its sessions are forgotten,
as a core forgets the sessions of its own ended missions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

import anyio

from opencode_orchestrator.core.missions.scopes import SessionScopes
from opencode_orchestrator.core.missions.wire import ScopeCheckResult
from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.errors import MissionNotFoundError
from opencode_orchestrator.mission.follow import JournalFollower
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.store import missions_root
from opencode_orchestrator.wal.errors import WalError
from opencode_orchestrator.wal.paths import mission_wal_dir

__all__ = ["WORKTREES_MARKER", "JournalScopes", "project_of"]

WORKTREES_MARKER: Final = ("", ".opencode", "orchestrator", "worktrees", "")
"""What lies between a project and a racing strategy's worktree directory."""

_log = get_logger(__name__)


def project_of(directory: str) -> Path:
    """The project whose missions may own sessions in ``directory``.

    The directory itself, or for a racing strategy's worktree the project that
    holds it. Lexical (no I/O), like every path a core is given.
    """
    normal = os.path.normpath(directory)
    marker = "/".join(WORKTREES_MARKER)
    head, found, tail = normal.partition(marker)
    if found and tail and "/" not in tail:
        return Path(head)
    return Path(normal)


class JournalScopes:
    """The scopes of the sessions of the missions a project's journals hold."""

    def __init__(self, project: Path, *, runs_here: Callable[[str], bool]) -> None:
        """Read ``project``'s missions, except those ``runs_here`` says this core runs."""
        self.project = project
        self._runs_here = runs_here
        self._scopes = SessionScopes()
        self._followers: dict[str, JournalFollower] = {}
        self._filed: dict[str, set[str]] = {}
        """Mission id -> the sessions of it filed (the model lets go of finished ones)."""
        self._ended: set[str] = set()
        self._lock = anyio.Lock()

    async def check(self, session_id: str, tool: str, paths: list[str]) -> ScopeCheckResult:
        """The verdict on ``session_id``, once the journals' new records are read.

        Read on every check, not only for a session not seen yet: the journal
        also says when its mission ended, and then its sessions are let go.
        """
        async with self._lock:
            self._file(*await anyio.to_thread.run_sync(self._poll))
        return self._scopes.check(session_id, tool, paths)

    def _poll(self) -> tuple[list[MissionModel], list[str]]:
        """Fold what the journals gained into their models (blocking: a worker thread).

        Also returns the missions this core runs now: one may have been another
        process's when it was read.
        """
        root = missions_root(self.project)
        try:
            names = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
        except OSError:
            return [], []  # no missions (yet) in this project
        models: list[MissionModel] = []
        here: list[str] = []
        for name in names:
            if name in self._ended:
                continue
            if self._runs_here(name):
                here.append(name)
                continue
            follower = self._followers.get(name)
            if follower is None:
                try:
                    directory = mission_wal_dir(self.project, name)
                except ValueError:
                    continue  # not a mission's directory
                follower = self._followers[name] = JournalFollower(directory, keep_evidence=False)
            try:
                follower.poll()
            except MissionNotFoundError:
                continue  # created a moment ago, or not a mission: read again next time
            except WalError as exc:
                # Damaged: its sessions stay as they were filed (status tells the user).
                _log.warning("scope.journal_unreadable", mission=name, error=str(exc))
                continue
            models.append(follower.model)
        return models, here

    def _file(self, models: list[MissionModel], here: list[str]) -> None:
        """File the sessions the models gained; forget the missions that ended or run here."""
        for mission_id in here:
            if self._followers.pop(mission_id, None) is not None:
                self._scopes.forget_mission(mission_id)
                self._filed.pop(mission_id, None)
        for model in models:
            mission_id = model.mission_id
            if model.state.final:
                self._scopes.forget_mission(mission_id)
                self._ended.add(mission_id)
                self._followers.pop(mission_id, None)
                self._filed.pop(mission_id, None)
                continue
            filed = self._filed.setdefault(mission_id, set())
            for session, data in model.sessions.items():
                if session not in filed:
                    self._scopes.add_record(model, data)
                    filed.add(session)
