"""Request bodies, validated as strictly as OpenCode's schemas (unknown fields refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CommandBody",
    "PatchSessionBody",
    "PermissionReplyBody",
    "PromptBody",
    "SessionCreateBody",
    "ShellBody",
    "SummarizeBody",
    "ToastBody",
    "WorktreeCreateBody",
    "WorktreeRemoveBody",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ModelRef(_Body):
    providerID: str  # noqa: N815 - OpenCode's field name
    modelID: str  # noqa: N815


class SessionCreateBody(_Body):
    """``POST /session``."""

    parentID: str | None = Field(default=None, pattern=r"^ses")  # noqa: N815
    title: str | None = None
    agent: str | None = None
    model: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    permission: list[dict[str, Any]] | None = None
    workspaceID: str | None = Field(default=None, pattern=r"^wrk")  # noqa: N815


class PatchSessionBody(_Body):
    """``PATCH /session/{id}``."""

    title: str | None = None
    metadata: dict[str, Any] | None = None
    permission: list[dict[str, Any]] | None = None
    time: dict[str, float] | None = None


class _PartInput(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text", "file", "agent", "subtask"]
    text: str | None = None


class PromptBody(_Body):
    """``POST /session/{id}/message`` and ``prompt_async``."""

    messageID: str | None = Field(default=None, pattern=r"^msg")  # noqa: N815
    model: _ModelRef | None = None
    agent: str | None = None
    noReply: bool = False  # noqa: N815
    tools: dict[str, bool] | None = None
    format: dict[str, Any] | None = None
    system: str | None = None
    variant: str | None = None
    parts: list[_PartInput]


class CommandBody(_Body):
    """``POST /session/{id}/command``."""

    messageID: str | None = Field(default=None, pattern=r"^msg")  # noqa: N815
    agent: str | None = None
    model: str | None = None
    arguments: str
    command: str
    variant: str | None = None
    parts: list[dict[str, Any]] | None = None


class ShellBody(_Body):
    """``POST /session/{id}/shell``."""

    messageID: str | None = Field(default=None, pattern=r"^msg")  # noqa: N815
    agent: str
    model: _ModelRef | None = None
    command: str


class SummarizeBody(_Body):
    """``POST /session/{id}/summarize``."""

    providerID: str  # noqa: N815
    modelID: str  # noqa: N815
    auto: bool = False


class ToastBody(_Body):
    """``POST /tui/show-toast``."""

    title: str | None = None
    message: str
    variant: Literal["info", "success", "warning", "error"]
    duration: int | None = Field(default=None, gt=0)


class PermissionReplyBody(_Body):
    """``POST /permission/{id}/reply``."""

    reply: Literal["once", "always", "reject"]
    message: str | None = None


class WorktreeCreateBody(_Body):
    """``POST /experimental/worktree``."""

    name: str | None = None
    startCommand: str | None = None  # noqa: N815


class WorktreeRemoveBody(_Body):
    """``DELETE /experimental/worktree``."""

    directory: str
