"""What the routes share: the hub, the bus, the faults, and request helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, unquote

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import Scope

from opencode_orchestrator.sim.engine.bus import EventBus
from opencode_orchestrator.sim.engine.faults import FaultInjector
from opencode_orchestrator.sim.engine.sessions import SessionHub

__all__ = [
    "BodyError",
    "MalformedBodyError",
    "SimContext",
    "context_of",
    "directory_in",
    "directory_of",
    "parse_body",
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
    return directory_in(request.scope, context_of(request).default_directory)


def directory_in(scope: Scope, default: str) -> str:
    """:func:`directory_of` read from an ASGI scope (as Starlette reads query and headers)."""
    query_string: bytes = scope["query_string"]
    if query_string:
        query: str | None = None  # the last value, as Starlette's QueryParams gives it
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if key == "directory":
                query = value
        if query:
            return query
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, raw in headers:
        if name == b"x-opencode-directory":  # the first one, as Starlette's Headers gives it
            header = raw.decode("latin-1")
            if header:
                return unquote(header)
            break
    return default


async def read_body(request: Request, model: type[_B], *, optional: bool = False) -> _B:
    """The JSON body validated as ``model``.

    Raises:
        MalformedBodyError: not JSON.
        BodyError: JSON, but invalid.
    """
    return parse_body(await request.body(), model, optional=optional)


def parse_body(raw: bytes, model: type[_B], *, optional: bool = False) -> _B:
    """``raw`` validated as ``model`` (see :func:`read_body`)."""
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
