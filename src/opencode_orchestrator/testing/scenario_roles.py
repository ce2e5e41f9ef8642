"""Reading a chat request the way a model would: who am I, which turn is this, what did I do.

OpenCode 1.18.33 sends a mission agent's prompt as the request's one
``system`` message (measured with the real binary; see ``tests/e2e/README.md``):
the agent's prompt text, then OpenCode's own lines (the model name, an
``<env>`` block with ``Working directory: …``, the skills, and the
structured-output instruction). The ``<!-- prompt: worker v1 -->`` marker
of the prompt files is not part of the registered prompt, so the role is
recognised by the prompt's first line (or by the marker, should an
installer register the prompt with it). The turn is recognised in the
newest ``user`` message by the first fixed line of each per-turn template
in :mod:`opencode_orchestrator.mission.prompts`, read from the very files
the engine renders, so the two cannot drift apart. Tool results come back
as ``role: "tool"`` messages after the assistant's ``tool_calls``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Final

import orjson

from opencode_orchestrator.mission.prompts.loader import load_prompt, section
from opencode_orchestrator.testing.fake_llm_turns import STRUCTURED_OUTPUT_TOOL, text_of

__all__ = [
    "Role",
    "TurnKind",
    "calls_since_user",
    "classify_turn",
    "detect_role",
    "last_structured",
    "last_tool_result",
    "results_since_user",
    "system_text",
    "text_of",
    "user_turns",
    "working_directory",
]

_MARKER: Final = re.compile(r"<!-- prompt: ([a-z]+) v\d+ -->")
_WORKDIR: Final = re.compile(r"^\s*Working directory: (.+?)\s*$", re.MULTILINE)


class Role(enum.StrEnum):
    """A mission role, as the engine's prompt files name them."""

    PLANNER = "planner"
    WORKER = "worker"
    REVIEWER = "reviewer"
    MASTER = "master"


class TurnKind(enum.StrEnum):
    """What a turn asks of its role."""

    PLAN = "plan"
    WORK = "work"
    FIX = "fix"
    REPORT = "report"
    """A worker turn that only needs the report (nudge, recovery, continuation...)."""
    SHADOW = "shadow"
    REVIEW = "review"
    MASTER = "master"
    RESTATE = "restate"
    """None of the role's templates: the orchestrator asks for the last answer again."""


# Per role: (template section, the kind it asks for), most specific first.
_SECTIONS: Final[Mapping[Role, Sequence[tuple[str, TurnKind]]]] = {
    Role.PLANNER: (("plan", TurnKind.PLAN),),
    Role.WORKER: (
        ("fix", TurnKind.FIX),
        ("recover", TurnKind.REPORT),
        ("nudge", TurnKind.REPORT),
        ("continue", TurnKind.REPORT),
        ("subunits-done", TurnKind.REPORT),
        ("work", TurnKind.WORK),
    ),
    Role.REVIEWER: (("shadow", TurnKind.SHADOW), ("final", TurnKind.REVIEW)),
    Role.MASTER: (("review", TurnKind.MASTER),),
}


def system_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Every ``system`` message's text, joined."""
    return "\n".join(text_of(m.get("content")) for m in messages if m.get("role") == "system")


@cache
def _first_line(role: Role) -> str:
    return load_prompt(role.value).text.strip().splitlines()[0].strip()


@cache
def _signature(role: Role, name: str) -> str:
    """A template's first fixed text: its first non-placeholder line, up to any ``$``."""
    for line in section(role.value, name).splitlines():
        fixed = line.split("$", 1)[0].strip()
        if fixed:
            return fixed
    raise ValueError(f"template {role}:{name} has no fixed text")


def detect_role(system: str) -> Role | None:
    """The mission role whose prompt ``system`` carries, or ``None`` (another agent)."""
    marker = _MARKER.search(system)
    if marker is not None and marker.group(1) in Role.__members__.values():
        return Role(marker.group(1))
    for role in Role:
        if _first_line(role) in system:
            return role
    return None


def classify_turn(role: Role, prompt: str) -> TurnKind:
    """Which of ``role``'s turns the user message ``prompt`` is."""
    for name, kind in _SECTIONS[role]:
        if _signature(role, name) in prompt:
            return kind
    return TurnKind.RESTATE


def working_directory(system: str) -> str | None:
    """The ``Working directory:`` OpenCode tells the model about."""
    match = _WORKDIR.search(system)
    return None if match is None else match.group(1)


def user_turns(messages: Sequence[Mapping[str, Any]]) -> int:
    """How many ``user`` messages the conversation holds (one per turn of the session)."""
    return sum(1 for m in messages if m.get("role") == "user")


def calls_since_user(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls the assistant made since the newest user message, oldest first."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        for call in reversed(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            calls.append((str(function.get("name", "")), _arguments(function.get("arguments"))))
    calls.reverse()
    return calls


def _arguments(raw: object) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw) if isinstance(raw, str | bytes) else None
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def last_tool_result(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The result of the assistant's last tool call, if the request ends with one."""
    if messages and messages[-1].get("role") == "tool":
        return text_of(messages[-1].get("content"))
    return None


def results_since_user(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The tool results OpenCode sent back since the newest user message, oldest first."""
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        if message.get("role") == "tool":
            results.append(text_of(message.get("content")))
    results.reverse()
    return results


def last_structured(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The arguments of the session's last structured-output call (its last answer)."""
    for message in reversed(messages):
        for call in reversed(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            if function.get("name") == STRUCTURED_OUTPUT_TOOL:
                return _arguments(function.get("arguments"))
    return None
