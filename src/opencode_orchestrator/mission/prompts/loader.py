"""Loading the role prompts: versioned Markdown files shipped inside the package.

Each role has one file, ``<role>.md``, laid out as::

    <!-- prompt: worker v1 -->
    The agent's system prompt ...
    $fields

    <!-- section: work -->
    A per-turn template, or a block one includes ...

The marker's version covers the whole file, so a role's system prompt and its
turn templates change together. ``$fields`` in a system prompt is filled from
the role's output model (:mod:`.fields`); sections are ``string.Template``
text filled by :mod:`.render`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from string import Template
from typing import Final

from pydantic import BaseModel

from opencode_orchestrator.mission.contracts import (
    AGENT_MASTER_REVIEWER,
    AGENT_PLANNER,
    AGENT_REVIEWER,
    AGENT_WORKER,
    PlanOutput,
    ReviewVerdict,
    WorkerReport,
)
from opencode_orchestrator.mission.prompts.fields import describe_fields

__all__ = ["ROLES", "Prompt", "agent_definitions", "load_prompt", "output_model", "section"]

ROLES: Final = ("planner", "worker", "reviewer", "master")

_AGENTS: Final = {
    "planner": AGENT_PLANNER,
    "worker": AGENT_WORKER,
    "reviewer": AGENT_REVIEWER,
    "master": AGENT_MASTER_REVIEWER,
}
_MODELS: Final[dict[str, type[BaseModel]]] = {
    "planner": PlanOutput,
    "worker": WorkerReport,
    "reviewer": ReviewVerdict,
    "master": ReviewVerdict,
}
# Shown in OpenCode's agent list; the orchestrator, not the user, picks these agents.
_DESCRIPTIONS: Final = {
    "planner": "Mission planner: explores the project and splits a goal into a DAG of units.",
    "worker": "Mission worker: implements one unit inside its file scope and verifies it.",
    "reviewer": "Mission reviewer: checks one unit's change against its brief, with evidence.",
    "master": "Mission master reviewer: judges the whole change before the mission is sealed.",
}
_PACKAGE: Final = __name__.rpartition(".")[0]
_MARKER: Final = re.compile(r"<!-- prompt: ([a-z]+) v(\d+) -->\n")
_SECTION: Final = re.compile(r"^<!-- section: ([a-z][a-z0-9-]*) -->\n", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Prompt:
    """A role's system prompt, as the agent is registered with."""

    role: str
    version: int
    text: str


@dataclass(frozen=True, slots=True)
class _File:
    version: int
    system: str
    sections: dict[str, str]


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown prompt role {role!r} (expected one of {', '.join(ROLES)})")


@cache
def _load_file(role: str) -> _File:
    _check_role(role)
    raw = files(_PACKAGE).joinpath(f"{role}.md").read_text(encoding="utf-8")
    marker = _MARKER.match(raw)
    if marker is None or marker.group(1) != role:
        raise ValueError(f"{role}.md does not start with <!-- prompt: {role} vN -->")
    # re.split with one group: [system, name1, body1, name2, body2, ...]
    parts = _SECTION.split(raw[marker.end() :])
    sections = {name: body.strip("\n") for name, body in zip(parts[1::2], parts[2::2], strict=True)}
    system = Template(parts[0].strip()).substitute(fields=describe_fields(_MODELS[role]))
    return _File(version=int(marker.group(2)), system=system, sections=sections)


def load_prompt(role: str) -> Prompt:
    """The system prompt of ``role`` (``planner``, ``worker``, ``reviewer`` or ``master``).

    Raises:
        ValueError: ``role`` is not one of :data:`ROLES`, or its file lacks its marker.
    """
    loaded = _load_file(role)
    return Prompt(role=role, version=loaded.version, text=loaded.system)


def section(role: str, name: str) -> str:
    """The raw template of section ``name`` in ``role``'s file (for :mod:`.render`).

    Raises:
        KeyError: the file has no such section.
    """
    return _load_file(role).sections[name]


def output_model(role: str) -> type[BaseModel]:
    """The structured-output model ``role`` answers with."""
    _check_role(role)
    return _MODELS[role]


def agent_definitions() -> dict[str, dict[str, str]]:
    """The four mission agents as OpenCode registers them: name -> description, prompt, mode."""
    return {
        _AGENTS[role]: {
            "description": _DESCRIPTIONS[role],
            "prompt": load_prompt(role).text,
            "mode": "subagent",
        }
        for role in ROLES
    }
