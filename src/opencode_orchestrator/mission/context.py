"""What every part of a running mission shares: its journal, OpenCode, the pool, the budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from opencode_orchestrator.mission.budget import Budget
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.pool import AdaptivePool
from opencode_orchestrator.mission.router import EventRouter
from opencode_orchestrator.opencode.client import OpenCodeClient
from opencode_orchestrator.opencode.models import ModelRef

__all__ = ["ROLES", "MissionContext"]

ROLES = ("planner", "worker", "reviewer", "master")


@dataclass(slots=True)
class MissionContext:
    """The services of one running mission (built by the engine, shared by its parts)."""

    project: Path
    config: MissionConfig
    journal: Journal
    client: OpenCodeClient
    router: EventRouter
    pool: AdaptivePool
    budget: Budget
    extra_clients: dict[str, tuple[OpenCodeClient, EventRouter]] = field(default_factory=dict)
    """Clients and routers of racing worktrees, by directory."""

    @property
    def model(self) -> MissionModel:
        """The mission's state."""
        return self.journal.model

    @property
    def mission_id(self) -> str:
        """The mission's id."""
        return self.journal.model.mission_id

    def model_for(self, role: str) -> ModelRef | None:
        """The ``provider/model`` configured for ``role``, if any."""
        spec = self.config.models.get(role)
        if not spec or "/" not in spec:
            return None
        provider, model = spec.split("/", 1)
        return ModelRef(provider_id=provider, model_id=model)

    def provider_for(self, role: str) -> str | None:
        """The provider ``role`` runs on (``None``: OpenCode's default)."""
        ref = self.model_for(role)
        return ref.provider_id if ref is not None else None

    def client_for(self, directory: str | None) -> tuple[OpenCodeClient, EventRouter]:
        """The client and router for sessions in ``directory`` (``None``: the project)."""
        if directory is None:
            return self.client, self.router
        return self.extra_clients[directory]
