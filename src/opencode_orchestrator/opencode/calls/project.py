"""Calls about the project around the sessions: todos, diffs, permissions, toasts, worktrees."""

from __future__ import annotations

from pydantic import TypeAdapter

from opencode_orchestrator.opencode.calls.base import BOOL, ClientCallsBase, drop_nulls, parse_as
from opencode_orchestrator.opencode.models import (
    FileDiff,
    PermissionReply,
    PermissionRequest,
    ToastVariant,
    Todo,
    Worktree,
)

__all__ = ["ProjectCalls"]

_TODOS: TypeAdapter[list[Todo]] = TypeAdapter(list[Todo])
_DIFFS: TypeAdapter[list[FileDiff]] = TypeAdapter(list[FileDiff])
_PERMISSIONS: TypeAdapter[list[PermissionRequest]] = TypeAdapter(list[PermissionRequest])
_STRINGS: TypeAdapter[list[str]] = TypeAdapter(list[str])
_WORKTREE: TypeAdapter[Worktree] = TypeAdapter(Worktree)


class ProjectCalls(ClientCallsBase):
    """Todos, diffs, permissions, the TUI and worktrees; a mixin of ``OpenCodeClient``."""

    # -- session side data --------------------------------------------------------

    async def todos(self, session_id: str) -> list[Todo]:
        """``GET /session/:id/todo``."""
        data = await self.http.request_json("GET", f"/session/{session_id}/todo", idempotent=True)
        return parse_as(_TODOS, data, "todo list")

    async def diff(self, session_id: str, *, message_id: str | None = None) -> list[FileDiff]:
        """``GET /session/:id/diff``."""
        path, params = f"/session/{session_id}/diff", {"messageID": message_id}
        data = await self.http.request_json("GET", path, idempotent=True, params=params)
        return parse_as(_DIFFS, data, "diff")

    # -- permissions, TUI, worktrees ----------------------------------------------

    async def list_permissions(self) -> list[PermissionRequest]:
        """``GET /permission``: pending permission requests."""
        data = await self.http.request_json("GET", "/permission", idempotent=True)
        return parse_as(_PERMISSIONS, data, "permission list")

    async def reply_permission(
        self, request_id: str, reply: PermissionReply, *, message: str | None = None
    ) -> bool:
        """``POST /permission/:id/reply`` with once/always/reject (retried: idempotent)."""
        body = drop_nulls({"reply": PermissionReply(reply).value, "message": message})
        path = f"/permission/{request_id}/reply"
        data = await self.http.request_json("POST", path, idempotent=True, json=body)
        return parse_as(BOOL, data, "permission reply")

    async def show_toast(
        self,
        message: str,
        *,
        variant: ToastVariant = ToastVariant.INFO,
        title: str | None = None,
        duration_ms: int | None = None,
    ) -> bool:
        """``POST /tui/show-toast`` (retried: showing a toast twice is harmless)."""
        body = drop_nulls(
            {
                "message": message,
                "variant": ToastVariant(variant).value,
                "title": title,
                "duration": duration_ms,
            }
        )
        data = await self.http.request_json("POST", "/tui/show-toast", idempotent=True, json=body)
        return parse_as(BOOL, data, "toast")

    async def list_worktrees(self) -> list[str]:
        """``GET /experimental/worktree``: worktree directories."""
        data = await self.http.request_json("GET", "/experimental/worktree", idempotent=True)
        return parse_as(_STRINGS, data, "worktree list")

    async def create_worktree(
        self, *, name: str | None = None, start_command: str | None = None
    ) -> Worktree:
        """``POST /experimental/worktree`` (not retried)."""
        body = drop_nulls({"name": name, "startCommand": start_command})
        path = "/experimental/worktree"
        data = await self.http.request_json("POST", path, idempotent=False, json=body, long=True)
        return parse_as(_WORKTREE, data, "worktree")

    async def remove_worktree(self, directory: str) -> bool:
        """``DELETE /experimental/worktree`` with ``{directory}``."""
        data = await self.http.request_json(
            "DELETE", "/experimental/worktree", idempotent=True, json={"directory": directory}
        )
        return parse_as(BOOL, data, "worktree remove")
