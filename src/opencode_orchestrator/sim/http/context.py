"""What the routes share: the hub, the bus, the faults, and request helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from opencode_orchestrator.sim.engine.bus import EventBus
from opencode_orchestrator.sim.engine.faults import FaultInjector
from opencode_orchestrator.sim.engine.sessions import SessionHub

__all__ = [
    "BodyError",
    "MalformedBodyError",
    "SimContext",
    "context_of",
    "directory_of",
    "read_body",
]

_B = TypeVar("_B", bound=BaseModel)


@dataclass(slots=True)
class SimContext:
    """Everything a route may use; one per run of the server."""

    hub: SessionHub
    bus: EventBus
    faults: FaultInjector
    default_directory: str
    state_dir: Path
    heartbeat: float
    worktrees: dict[str, str] = field(default_factory=dict)
    """Worktree directory → name, for ``/experimental/worktree``."""


class BodyError(Exception):
    """A request body that does not match its schema (a 400)."""


class MalformedBodyError(Exception):
    """A request body that is not JSON at all (OpenCode answers 500)."""


def context_of(request: Request) -> SimContext:
    """The context the app was built with."""
    ctx: SimContext = request.app.state.sim
    return ctx


def directory_of(request: Request) -> str:
    """The project addressed: ``?directory=``, ``x-opencode-directory``, or the default."""
    query = request.query_params.get("directory")
    if query:
        return query
    header = request.headers.get("x-opencode-directory")
    if header:
        return unquote(header)
    return context_of(request).default_directory


async def read_body(request: Request, model: type[_B], *, optional: bool = False) -> _B:
    """The JSON body validated as ``model``.

    Raises:
        MalformedBodyError: not JSON.
        BodyError: JSON, but invalid.
    """
    raw = await request.body()
    if not raw.strip() and optional:
        raw = b"{}"
    try:
        return model.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise MalformedBodyError(str(exc)) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise BodyError(f"Invalid request body at {where}: {first['msg']}") from exc
