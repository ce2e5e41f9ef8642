"""The mission's write-ahead journal: check, append durably, then apply.

Every state change of the engine goes through :meth:`Journal.write`, which

1. asks the model whether the record is allowed (a forbidden transition raises
   before anything is written),
2. appends it to the WAL and waits until it is durable,
3. folds it into the in-memory model.

Only then does the caller act on it (send the prompt, start the review...).
So after a crash the log always knows at least as much as anyone outside did.
Records nothing outside waits on (``durable=False``) skip the wait: they are
queued in order and ride the next durable record's sync. A writer cancelled
while it waits still has its record written, so the model takes it too.
Each record is also logged, in brief (the mission's ``mission.log`` tells its
story from these lines; the WAL stays the truth).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Final

import anyio

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.records import MISSION_REGISTRY, RecordType
from opencode_orchestrator.wal.log import Durability, WriteAheadLog

__all__ = ["Journal"]

_log = get_logger(__name__)

# Milestones at info; the turn-by-turn traffic at debug.
_QUIET: Final = frozenset(
    {RecordType.TURN_INTENT, RecordType.TURN_ACCEPTED, RecordType.TURN_MESSAGE}
)
_BRIEF_KEYS: Final = (
    "state", "reason", "iteration", "unit", "attempt", "role", "session", "turn", "kind",
    "status", "error", "command", "exit_code", "shadow", "round", "tokens", "cost", "goal",
)  # fmt: skip
_BRIEF_SET: Final = frozenset(_BRIEF_KEYS)


class Journal:
    """A mission's WAL and the model it rebuilds."""

    def __init__(self, wal: WriteAheadLog, model: MissionModel) -> None:
        """Use :meth:`open`."""
        self.wal = wal
        self.model = model

    @classmethod
    async def open(
        cls,
        directory: Path,
        *,
        durability: Durability = Durability.ALWAYS,
        sync_interval: float = 0.05,
    ) -> Journal:
        """Open (or create) the WAL in ``directory`` and replay it into a fresh model.

        ``sync_interval`` (seconds) bounds how long a record stays unsynced
        under :attr:`Durability.INTERVAL`; other modes ignore it.

        Raises:
            WalError: the log is locked by another process, corrupt, or from a
                newer version (see :mod:`opencode_orchestrator.wal.errors`).
        """
        wal = await WriteAheadLog.open(
            directory,
            durability=durability,
            sync_interval=sync_interval,
            registry=MISSION_REGISTRY,
        )
        model = MissionModel()
        try:
            for record in wal.take_records():
                model.apply(record.type, record.data, record.ts)
        except BaseException:
            await wal.close()
            raise
        _log.debug("mission.journal.replayed", records=len(wal.recovery.records))
        return cls(wal, model)

    @property
    def directory(self) -> Path:
        """Where the log lives."""
        return self.wal.directory

    async def write(
        self, record_type: RecordType, data: dict[str, Any], *, durable: bool = True
    ) -> None:
        """Check, append, then apply one record; with ``durable``, wait until it is on disk.

        ``durable=False`` is for records nothing outside waits on (a turn
        accepted, a session made, a turn's end that the unit's next durable
        state follows): the record is queued in order and reaches the disk
        with the next durable one, or within the log's ``sync_interval``. A
        crash may lose it: what it said is then found out again (a turn whose
        acceptance or end is missing is probed and read back) or redone at no
        model cost (a session made again). A prompt is still only ever sent
        after its durable ``turn.intent``.

        Raises:
            TransitionError, MissionError: the model refuses the record (nothing written).
            WalError: the log failed; nothing more can be recorded.
        """
        self.model.check(record_type, data)
        if not durable:
            record = self.wal.append_soon(record_type.value, data)
        else:
            try:
                record = await self.wal.append(record_type.value, data)
            except anyio.get_cancelled_exc_class():
                # Queued before the wait was cancelled, the record still reaches the
                # disk with its batch: the model must know it too, or a turn whose
                # intent was cancelled mid-sync is open on disk and never closed.
                self.model.apply(record_type.value, data, time.time())
                raise
        self.model.apply(record_type.value, data, record.ts)
        _log.log(
            logging.DEBUG if record_type in _QUIET else logging.INFO,
            record_type.value,
            seq=record.seq,
            **_brief(data),
        )

    async def close(self) -> None:
        """Close the log (idempotent)."""
        await self.wal.close()

    def now(self) -> float:
        """Wall-clock seconds, as records carry them."""
        return time.time()


def _brief(data: dict[str, Any]) -> dict[str, Any]:
    """What a log line needs of a record: its short fields, no prompts or answers."""
    # A record holds a few keys and there are many brief ones: walk the record.
    brief = {
        k: (v[:300] if type(v) is str else v)
        for k, v in data.items()
        if k in _BRIEF_SET and isinstance(v, str | int | float | bool)
    }
    if isinstance(data.get("units"), list):
        brief["units"] = len(data["units"])
    verdict = data.get("verdict")
    if isinstance(verdict, dict) and isinstance(verdict.get("verdict"), str):
        brief["verdict"] = verdict["verdict"]
    return brief
