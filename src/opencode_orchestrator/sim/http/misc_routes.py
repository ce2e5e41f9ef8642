"""Health, toasts, permissions and worktrees."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from opencode_orchestrator.mission.contracts import MISSION_AGENTS
from opencode_orchestrator.sim.http.bodies import (
    PermissionReplyBody,
    ToastBody,
    WorktreeCreateBody,
    WorktreeRemoveBody,
)
from opencode_orchestrator.sim.http.context import (
    BodyError,
    MalformedBodyError,
    context_of,
    directory_of,
    read_body,
)
from opencode_orchestrator.sim.http.responses import (
    JsonResponse,
    bad_request,
    unexpected_error,
)
from opencode_orchestrator.sim.ids import IdKind, new_id
from opencode_orchestrator.sim.state.records import OPENCODE_VERSION

__all__ = ["misc_routes"]

_BUILTIN_AGENTS = (("build", "primary"), ("plan", "primary"), ("general", "subagent"))
"""OpenCode's own agents; the mission agents come from the plugin, here scripted."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


async def health(_request: Request) -> Response:
    """``GET /global/health``."""
    return JsonResponse({"healthy": True, "version": OPENCODE_VERSION})


async def list_agents(_request: Request) -> Response:
    """``GET /agent``: OpenCode's built-in agents and the scripted mission agents."""
    agents = [*_BUILTIN_AGENTS, *((name, "subagent") for name in MISSION_AGENTS)]
    return JsonResponse(
        [
            {
                "name": name,
                "mode": mode,
                "native": name not in MISSION_AGENTS,
                "permission": [],
                "options": {},
            }
            for name, mode in agents
        ]
    )


async def show_toast(request: Request) -> Response:
    """``POST /tui/show-toast``: no TUI here; the toast becomes a ``tui.toast.show`` event."""
    try:
        body = await read_body(request, ToastBody)
    except BodyError as exc:
        return bad_request(str(exc))
    except MalformedBodyError:
        return unexpected_error()
    context_of(request).hub.publisher.publish(
        directory_of(request),
        {"type": "tui.toast.show", "properties": body.model_dump(exclude_none=True)},
    )
    return JsonResponse(True)


async def list_permissions(request: Request) -> Response:
    """``GET /permission``: the addressed project's pending permission requests."""
    return JsonResponse(context_of(request).hub.permissions.listed(directory_of(request)))


async def reply_permission(request: Request) -> Response:
    """``POST /permission/{id}/reply``: ``true``, or 404 when no such request is pending."""
    try:
        body = await read_body(request, PermissionReplyBody)
    except BodyError as exc:
        return bad_request(str(exc))
    except MalformedBodyError:
        return unexpected_error()
    rid = request.path_params["requestID"]
    if context_of(request).hub.permissions.reply(rid, body.reply, body.message):
        return JsonResponse(True)
    return JsonResponse(
        {
            "_tag": "PermissionNotFoundError",
            "requestID": rid,
            "message": f"Permission request not found: {rid}",
        },
        status_code=404,
    )


def _worktree_error(name: str, message: str) -> Response:
    return JsonResponse({"name": name, "data": {"message": message}}, status_code=400)


async def _git(*args: str) -> tuple[int, str]:
    result = await anyio.run_process(["git", *args], check=False, stderr=subprocess.STDOUT)
    return result.returncode, result.stdout.decode(errors="replace")


def _worktree_root(request: Request) -> Path:
    return context_of(request).state_dir / "worktree"


async def list_worktrees(request: Request) -> Response:
    """``GET /experimental/worktree``: the project's worktrees this simulator created."""
    code, out = await _git("-C", directory_of(request), "worktree", "list", "--porcelain")
    if code != 0:
        return JsonResponse([])
    root = str(_worktree_root(request))
    found = [
        line.removeprefix("worktree ")
        for line in out.splitlines()
        if line.startswith("worktree ") and line.removeprefix("worktree ").startswith(root)
    ]
    return JsonResponse(found)


async def create_worktree(request: Request) -> Response:
    """``POST /experimental/worktree``: a git worktree on branch ``opencode/<name>``."""
    try:
        body = await read_body(request, WorktreeCreateBody, optional=True)
    except BodyError as exc:
        return bad_request(str(exc))
    except MalformedBodyError:
        return unexpected_error()
    name = body.name or new_id(IdKind.EVENT).removeprefix("evt_")[-10:].lower()
    if not _NAME_RE.match(name):
        return _worktree_error("WorktreeCreateFailedError", f"invalid worktree name {name!r}")
    project = directory_of(request)
    code, _ = await _git("-C", project, "rev-parse", "--git-dir")
    if code != 0:
        return _worktree_error("WorktreeNotGitError", f"{project} is not a git repository")
    target = _worktree_root(request) / name
    branch = f"opencode/{name}"
    code, out = await _git("-C", project, "worktree", "add", "-b", branch, str(target))
    if code != 0:
        return _worktree_error(
            "WorktreeCreateFailedError", out.strip() or "git worktree add failed"
        )
    return JsonResponse({"name": name, "branch": branch, "directory": str(target)})


async def remove_worktree(request: Request) -> Response:
    """``DELETE /experimental/worktree``: remove the worktree and its branch."""
    try:
        body = await read_body(request, WorktreeRemoveBody)
    except BodyError as exc:
        return bad_request(str(exc))
    except MalformedBodyError:
        return unexpected_error()
    project = directory_of(request)
    code, out = await _git("-C", project, "worktree", "remove", "--force", body.directory)
    if code != 0:
        return _worktree_error(
            "WorktreeRemoveFailedError", out.strip() or "git worktree remove failed"
        )
    await _git("-C", project, "branch", "-D", f"opencode/{Path(body.directory).name}")
    return JsonResponse(True)


def misc_routes() -> list[Route]:
    """The routes."""
    return [
        Route("/global/health", health, methods=["GET"]),
        Route("/agent", list_agents, methods=["GET"]),
        Route("/tui/show-toast", show_toast, methods=["POST"]),
        Route("/permission", list_permissions, methods=["GET"]),
        Route("/permission/{requestID}/reply", reply_permission, methods=["POST"]),
        Route("/experimental/worktree", list_worktrees, methods=["GET"]),
        Route("/experimental/worktree", create_worktree, methods=["POST"]),
        Route("/experimental/worktree", remove_worktree, methods=["DELETE"]),
    ]
