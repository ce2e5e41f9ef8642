"""Smaller shapes: todos, diffs, permission requests, worktrees, health, toasts."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from opencode_orchestrator.opencode.models.base import OpenCodeModel

__all__ = [
    "FileDiff",
    "Health",
    "PermissionReply",
    "PermissionRequest",
    "PermissionToolRef",
    "ToastVariant",
    "Todo",
    "Worktree",
]


class Todo(OpenCodeModel):
    """``components/schemas/Todo``; status is pending/in_progress/completed/cancelled."""

    content: str
    status: str
    priority: str = "medium"


class FileDiff(OpenCodeModel):
    """``components/schemas/SnapshotFileDiff``: one file's change in a session."""

    file: str | None = None
    patch: str | None = None
    additions: float = 0
    deletions: float = 0
    status: str | None = None


class PermissionToolRef(OpenCodeModel):
    """The tool call that asked for a permission."""

    message_id: str = Field(alias="messageID")
    call_id: str = Field(alias="callID")


class PermissionRequest(OpenCodeModel):
    """``components/schemas/PermissionRequest``: a pending question to the operator."""

    id: str
    session_id: str = Field(alias="sessionID")
    permission: str
    patterns: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    always: list[str] = Field(default_factory=list)
    tool: PermissionToolRef | None = None


class PermissionReply(StrEnum):
    """An answer to a permission request."""

    ONCE = "once"
    ALWAYS = "always"
    REJECT = "reject"


class Worktree(OpenCodeModel):
    """``components/schemas/Worktree``."""

    name: str
    directory: str
    branch: str | None = None


class Health(OpenCodeModel):
    """``GET /global/health``."""

    healthy: bool
    version: str


class ToastVariant(StrEnum):
    """The look of a TUI toast."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"
