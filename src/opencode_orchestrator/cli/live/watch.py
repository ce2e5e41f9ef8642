"""``status --watch``: the live view of a mission another process runs, until it ends.

Read-only and lock-free, like ``status``: a :class:`~.follow.JournalFollower`
folds the journal's new records in (in a worker thread: it reads files), then
:class:`~.progress.Progress` draws, every ``interval``, on the one task that
does both, so the model is never read while it changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import anyio

from opencode_orchestrator.cli.live.follow import JournalFollower
from opencode_orchestrator.cli.live.progress import Progress
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.wal.paths import mission_wal_dir

__all__ = ["watch_mission"]


async def watch_mission(
    project: Path, mission_id: str, stream: TextIO, *, interval: float, tty: bool | None = None
) -> MissionModel:
    """Draw mission ``mission_id`` on ``stream`` until it is in a final state; return it.

    Raises:
        MissionNotFoundError: no journal of a mission under that id (or it went away).
        WalError: the journal cannot be read (damaged, from a newer version).
    """
    follower = JournalFollower(mission_wal_dir(project, mission_id))
    model = await anyio.to_thread.run_sync(follower.poll)
    progress = Progress(model, stream, tty=tty, interval=interval)
    try:
        while not model.state.final:
            progress.update()
            await anyio.sleep(interval)
            model = await anyio.to_thread.run_sync(follower.poll)
            progress.model = model
    finally:
        progress.finish()
    return model
