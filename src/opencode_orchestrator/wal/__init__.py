"""The durable write-ahead log of a mission: checksummed JSONL segments and snapshots.

Layers, each knowing only the ones below::

    record, registry     codec of one line; which record types exist
    paths, lock          file names, private files, the directory lock
    snapshot, segment    atomic snapshots; scanning and the torn-tail cut
    writer, recovery     batched appends and rotation; what open() does on disk
    batch, pacing        a batch and its waiters; pipelined batches or one per loop round
    flusher              the group-commit thread: one write + one fsync per batch
    log                  WriteAheadLog: group commit, durability, lifecycle
    tools                inspect / verify / repair for the CLI

The on-disk format and the recovery rules are in ``docs/wal-format.md``.
"""

from opencode_orchestrator.wal.errors import (
    WalClosedError,
    WalCorruptError,
    WalError,
    WalFatalError,
    WalInvalidPayloadError,
    WalLockedError,
    WalRegistryError,
    WalUnknownRecordTypeError,
    WalVersionError,
)
from opencode_orchestrator.wal.log import Durability, WalState, WalStats, WriteAheadLog
from opencode_orchestrator.wal.paths import mission_wal_dir
from opencode_orchestrator.wal.record import CURRENT_VERSION, Record
from opencode_orchestrator.wal.recovery import Recovery
from opencode_orchestrator.wal.registry import DEFAULT_REGISTRY, RecordRegistry
from opencode_orchestrator.wal.segment import TruncatedTail

__all__ = [
    "CURRENT_VERSION",
    "DEFAULT_REGISTRY",
    "Durability",
    "Record",
    "RecordRegistry",
    "Recovery",
    "TruncatedTail",
    "WalClosedError",
    "WalCorruptError",
    "WalError",
    "WalFatalError",
    "WalInvalidPayloadError",
    "WalLockedError",
    "WalRegistryError",
    "WalState",
    "WalStats",
    "WalUnknownRecordTypeError",
    "WalVersionError",
    "WriteAheadLog",
    "mission_wal_dir",
]
