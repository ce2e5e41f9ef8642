"""Sessions, their permission rules and their status."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from opencode_orchestrator.opencode.models.base import OpenCodeModel, RequestModel

__all__ = [
    "PermissionAction",
    "PermissionRule",
    "Session",
    "SessionModel",
    "SessionStatus",
    "SessionStatusType",
    "SessionTime",
]


class PermissionAction(StrEnum):
    """What a permission rule does when it matches."""

    ALLOW = "allow"
    DENY = "deny"
    ASK = "ask"


class PermissionRule(RequestModel):
    """One rule of a ruleset, e.g. ``{permission: "bash", pattern: "*", action: "deny"}``."""

    permission: str
    pattern: str
    action: PermissionAction


class SessionModel(RequestModel):
    """The model a session is created with (note: ``id``, not ``modelID``, here)."""

    id: str
    # serialization_alias only: callers build it with Python names.
    provider_id: str = Field(serialization_alias="providerID")
    variant: str | None = None


class SessionTime(OpenCodeModel):
    """Timestamps in milliseconds since the epoch."""

    created: int
    updated: int
    compacting: int | None = None
    archived: float | None = None


class Session(OpenCodeModel):
    """``components/schemas/Session``."""

    id: str
    slug: str | None = None
    project_id: str | None = Field(default=None, alias="projectID")
    directory: str | None = None
    parent_id: str | None = Field(default=None, alias="parentID")
    title: str = ""
    version: str | None = None
    agent: str | None = None
    model: dict[str, Any] | None = None
    time: SessionTime | None = None
    cost: float | None = None
    tokens: dict[str, Any] | None = None
    permission: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None


class SessionStatusType(StrEnum):
    """The kinds of ``SessionStatus``; ``RETRY`` means OpenCode is retrying its provider."""

    IDLE = "idle"
    BUSY = "busy"
    RETRY = "retry"


class SessionStatus(OpenCodeModel):
    """``components/schemas/SessionStatus``: ``type`` plus the retry details.

    ``type`` stays a plain string so a status kind added by a newer server
    parses; compare against :class:`SessionStatusType`.
    """

    type: str
    attempt: int | None = None
    message: str | None = None
    next: int | None = None

    @property
    def is_active(self) -> bool:
        """Whether a turn is running (busy, or waiting to retry its provider)."""
        return self.type in (SessionStatusType.BUSY, SessionStatusType.RETRY)
