"""``status --watch``: the live view of a mission another process runs, until it ends.

Read-only and lock-free, like ``status``: a
:class:`~opencode_orchestrator.mission.follow.JournalFollower` folds the
journal's new records in (in a worker thread: it reads files), then
:class:`~.progress.Progress` draws, every ``interval``, on the one task that
does both, so the model is never read while it changes.

A mission nobody runs (its process crashed or was killed; it may well be the
newest unfinished one) would be watched forever, so once no record came for
``idle`` seconds, each read first asks whether a process holds the WAL's lock
(:func:`lock_held`); if none does and the journal says no more, the watch
ends with the mission unfinished.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Final, TextIO

import anyio

from opencode_orchestrator.cli.live.progress import Progress
from opencode_orchestrator.mission.follow import JournalFollower
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.wal.paths import LOCK_NAME, mission_wal_dir

__all__ = ["IDLE", "lock_held", "watch_mission"]

IDLE: Final = 3.0
"""Seconds without a new record after which the watch checks that someone runs the mission."""


def lock_held(directory: Path) -> bool:
    """Whether a process holds the lock of the WAL in ``directory`` (blocking I/O: a thread).

    The lock is a ``flock`` the kernel drops when its holder dies, so asking for
    it shared, without waiting, tells: refused, someone holds it. Granted, it is
    given back at once (a process taking the WAL in those microseconds is told
    it is locked, and may try again). ``True`` when it cannot be told.
    """
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False  # never opened by a writer
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    finally:
        os.close(fd)  # also gives back a lock granted
    return False


async def watch_mission(
    project: Path,
    mission_id: str,
    stream: TextIO,
    *,
    interval: float,
    tty: bool | None = None,
    idle: float = IDLE,
) -> MissionModel:
    """Draw mission ``mission_id`` on ``stream`` until it ends or nobody runs it; return it.

    The model returned is in a final state, unless no process runs the mission
    (nothing journaled for ``idle`` seconds and the WAL's lock free).

    Raises:
        MissionNotFoundError: no journal of a mission under that id (or it went away).
        WalError: the journal cannot be read (damaged, from a newer version).
    """
    directory = mission_wal_dir(project, mission_id)
    follower = JournalFollower(directory, keep_evidence=False)  # the view shows no evidence
    model = await anyio.to_thread.run_sync(follower.poll)
    progress = Progress(model, stream, tty=tty, interval=interval)
    seen, quiet_since = follower.folded, time.monotonic()
    try:
        while not model.state.final:
            progress.update()
            await anyio.sleep(interval)
            ask = time.monotonic() - quiet_since >= idle
            model, held = await anyio.to_thread.run_sync(_read, follower, ask)
            progress.model = model
            if follower.folded != seen:
                seen, quiet_since = follower.folded, time.monotonic()
            elif not held:
                break  # nobody runs it, and the journal said nothing more
    finally:
        progress.finish()
    return model


def _read(follower: JournalFollower, ask: bool) -> tuple[MissionModel, bool]:
    # The lock first: a process that let it go wrote its last record before.
    held = lock_held(follower.directory) if ask else True
    return follower.poll(), held
