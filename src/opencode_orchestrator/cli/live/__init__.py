"""Live views of a mission in the terminal: ``run``, ``resume``, ``demo``, ``status --watch``.

:mod:`.snapshot` reads a mission model into what is shown; :mod:`.view` draws
that with rich on a terminal and :mod:`.plain` as change-driven lines
elsewhere; :mod:`.progress` picks one and redraws; :mod:`.watch` follows a journal another
process writes (with :mod:`opencode_orchestrator.mission.follow`).
"""

from __future__ import annotations

from opencode_orchestrator.cli.live.progress import Progress, is_live_terminal
from opencode_orchestrator.cli.live.snapshot import Snapshot, take_snapshot
from opencode_orchestrator.cli.live.watch import watch_mission
from opencode_orchestrator.mission.follow import JournalFollower

__all__ = [
    "JournalFollower",
    "Progress",
    "Snapshot",
    "is_live_terminal",
    "take_snapshot",
    "watch_mission",
]
