"""The one configuration schema: a mission's settings, the WAL's durability and logging.

:class:`OrchestratorConfig` is :class:`~opencode_orchestrator.mission.config.MissionConfig`
(its sections are not repeated here) plus what belongs to the process that
runs missions rather than to one mission: ``wal`` and ``log`` (a mission's
own log file, :class:`~opencode_orchestrator.log.LogSettings`; the terminal's
level is ``OPENCODE_ORCHESTRATOR_LOG_LEVEL`` or ``--verbose``, not this). A mission keeps
its own settings in its first WAL record, so a resumed mission runs under the
settings it started with; ``wal`` and ``log`` are taken afresh by every
process. Every field's description (an attribute docstring) is the reference
documentation (:mod:`.reference`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from opencode_orchestrator.log import LogSettings
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.wal.log import Durability

__all__ = ["OrchestratorConfig", "WalConfig"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class WalConfig(_Section):
    """How the mission journal (the write-ahead log) reaches the disk."""

    fsync: Literal["always", "interval"] = "always"
    """``always``: a record is acknowledged once it is on the disk (fdatasync,
    shared by the records written together). ``interval``: once the OS has it;
    the disk follows within ``wal.sync_interval``, so a power failure or kernel
    crash (not a crash of the process) may lose that last moment of the journal."""

    sync_interval: float = Field(default=0.05, gt=0.0, le=60.0)
    """Under ``fsync: interval``, the most seconds a journal record stays
    written but not yet on the disk (the loss window on a power failure).
    Ignored under ``always``."""

    @property
    def durability(self) -> Durability:
        """The WAL's durability mode (``none``, for tests only, is not configurable)."""
        return Durability(self.fsync)


class OrchestratorConfig(MissionConfig):
    """Everything OpenCode Orchestrator runs under: a mission's settings, ``wal`` and ``log``."""

    wal: WalConfig = Field(default_factory=WalConfig)
    log: LogSettings = Field(default_factory=LogSettings)

    def mission(self) -> MissionConfig:
        """The mission's settings alone (what its first WAL record keeps)."""
        return MissionConfig(**{name: getattr(self, name) for name in MissionConfig.model_fields})
