"""Errors of the write-ahead log, each with a stable string ``code``.

The tree, all of it below :class:`~opencode_orchestrator.errors.OrchestratorError`::

    WalError                      wal
    ├── WalCorruptError           wal.corrupt        invalid bytes before the tail, seq gap
    ├── WalVersionError           wal.version        record/snapshot from a newer format
    ├── WalUnknownRecordTypeError wal.unknown_type   type not in the registry
    ├── WalLockedError            wal.locked         another holder has the directory lock
    ├── WalFatalError             wal.fatal          a write or fsync failed; log is stopped
    ├── WalClosedError            wal.closed         used after close()
    ├── WalInvalidPayloadError    wal.invalid_payload payload rejected on append
    └── WalRegistryError          wal.registry       conflicting type registration

Codes are part of the public contract (logs, CLI ``--json``, the JSON-RPC layer
may surface them); renaming one is a breaking change.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from opencode_orchestrator.errors import OrchestratorError

__all__ = [
    "WalClosedError",
    "WalCorruptError",
    "WalError",
    "WalFatalError",
    "WalInvalidPayloadError",
    "WalLockedError",
    "WalRegistryError",
    "WalUnknownRecordTypeError",
    "WalVersionError",
    "repair_hint",
]


def repair_hint(directory: Path) -> str:
    """The command a person runs to salvage the valid prefix of ``directory``."""
    return f"opencode-orchestrator wal repair {directory}"


class WalError(OrchestratorError):
    """Root of every write-ahead-log error."""

    code: ClassVar[str] = "wal"


class _LocatedError(WalError):
    """An error found at a byte offset of a file on disk."""

    def __init__(self, path: Path, offset: int, detail: str) -> None:
        self.path = path
        self.offset = offset
        self.detail = detail
        super().__init__(f"{path}: byte {offset}: {detail}")


class WalCorruptError(_LocatedError):
    """Invalid data that is not a torn tail; opening is refused until repaired."""

    code: ClassVar[str] = "wal.corrupt"

    def __init__(self, path: Path, offset: int, detail: str) -> None:
        super().__init__(path, offset, detail)
        self.args = (
            f"{path}: corrupt at byte {offset}: {detail}; refusing to open. "
            f"Salvage the valid prefix with `{repair_hint(path.parent)}`",
        )


class WalVersionError(_LocatedError):
    """A record or snapshot carries a format version this code cannot read."""

    code: ClassVar[str] = "wal.version"

    def __init__(self, path: Path, offset: int, version: object) -> None:
        self.version = version
        super().__init__(
            path, offset, f"unsupported format version {version!r} (upgrade opencode-orchestrator)"
        )


class WalUnknownRecordTypeError(WalError):
    """A record's type is not registered; replaying it blindly could corrupt state.

    ``path`` and ``offset`` are ``None`` when the type was refused on append.
    """

    code: ClassVar[str] = "wal.unknown_type"

    def __init__(
        self, record_type: str, path: Path | None = None, offset: int | None = None
    ) -> None:
        self.record_type = record_type
        self.path = path
        self.offset = offset
        where = f"{path}: byte {offset}: " if path is not None else ""
        super().__init__(f"{where}unknown record type {record_type!r}")


class WalLockedError(WalError):
    """Another process or another log object holds the directory lock."""

    code: ClassVar[str] = "wal.locked"

    def __init__(self, directory: Path, holder_pid: int | None) -> None:
        self.directory = directory
        self.holder_pid = holder_pid
        holder = f"pid {holder_pid}" if holder_pid is not None else "an unknown process"
        super().__init__(f"{directory}: write-ahead log is locked by {holder}")


class WalFatalError(WalError):
    """A write or fsync failed: the log stopped and acknowledges nothing further."""

    code: ClassVar[str] = "wal.fatal"


class WalClosedError(WalError):
    """The log was closed; it cannot append or be entered again."""

    code: ClassVar[str] = "wal.closed"


class WalInvalidPayloadError(WalError):
    """An appended payload is not a JSON object or fails its registered model."""

    code: ClassVar[str] = "wal.invalid_payload"


class WalRegistryError(WalError):
    """A record type was registered twice with different payload models."""

    code: ClassVar[str] = "wal.registry"
