"""The fake LLM's scenario mode: plays a mission's roles from a :class:`Scenario`.

Give a :class:`ScenarioPlayer` to :class:`~opencode_orchestrator.testing.fake_llm.FakeLLM`
as its ``responder``. For every chat request it reads, as a model would,
the role from the system prompt, the turn and the unit from the newest user
message and its own progress from the tool calls and ``role: "tool"`` results
since then (:mod:`~opencode_orchestrator.testing.scenario_roles`); the turn
itself is decided once, on its first request, and kept per session
(:mod:`~opencode_orchestrator.testing.scenario_turns`), so OpenCode's retries
of a call get the same step again. OpenCode 1.18.33 names the session in the
``x-session-id`` header and its parent in ``x-parent-session-id``.

Requests that are not a mission role's (title generation, other agents) are
answered by the ``@script`` rules of
:func:`~opencode_orchestrator.testing.fake_llm_turns.plan_turn`.

Everything received is recorded for assertions: :attr:`ScenarioPlayer.requests`
(one per call) and :attr:`ScenarioPlayer.turns` (one per turn).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from opencode_orchestrator.mission.contracts import ReviewVerdict, Verdict, parse_unit_brief
from opencode_orchestrator.testing.fake_llm_turns import (
    STRUCTURED_OUTPUT_TOOL,
    ToolCall,
    TurnPlan,
    newest_user_text,
    plan_turn,
)
from opencode_orchestrator.testing.scenario import Scenario
from opencode_orchestrator.testing.scenario_roles import (
    Role,
    TurnKind,
    calls_since_user,
    classify_turn,
    detect_role,
    last_structured,
    last_tool_result,
    results_since_user,
    system_text,
    user_turns,
    working_directory,
)
from opencode_orchestrator.testing.scenario_turns import (
    RoleTurn,
    malformed_plan_turn,
    planner_turn,
    restate_turn,
    review_turn,
    worker_turn,
)
from opencode_orchestrator.testing.script import Fault

__all__ = ["PlayedTurn", "ScenarioPlayer", "ScenarioRequest"]

_PASS = ReviewVerdict(verdict=Verdict.PASS)


@dataclass(frozen=True, slots=True)
class ScenarioRequest:
    """One chat request as received, and what it was answered with."""

    at: float
    """``time.monotonic()`` on arrival."""
    role: Role | None
    kind: TurnKind | None
    unit: str | None
    session: str | None
    parent: str | None
    answer: str
    """``"429"``, ``"tool:<name>"``, ``"structured"``, ``"text"`` or ``"script"`` (not a role)."""
    tool_result: str | None = None
    """The result of the previous tool call, when the request carried one."""


@dataclass(slots=True)
class PlayedTurn:
    """One turn of a role, from its first request to its answer."""

    turn: RoleTurn
    session: str | None
    parent: str | None
    number: int
    """1 for the first turn of this kind (and unit), 2 for the second..."""
    started: float
    requests: int = 0
    results: list[str] = field(default_factory=list)
    """Each tool result OpenCode sent back, in order."""
    answered: float | None = None
    """When the final answer went out (``None``: never, e.g. rate-limited throughout)."""

    @property
    def role(self) -> Role:
        """The role that played the turn."""
        return self.turn.role

    @property
    def kind(self) -> TurnKind:
        """What the turn was."""
        return self.turn.kind

    @property
    def unit(self) -> str | None:
        """The unit, for a worker's or reviewer's turn."""
        return self.turn.unit


class ScenarioPlayer:
    """Answers chat requests by acting out a :class:`Scenario`; a FakeLLM ``responder``."""

    def __init__(self, scenario: Scenario) -> None:
        """Play ``scenario``; nothing is shared between players."""
        self.scenario = scenario
        self.requests: list[ScenarioRequest] = []
        self.turns: list[PlayedTurn] = []
        self.unexpected: list[str] = []
        """Things the scenario did not script (an unknown unit, a missing session id)."""
        self._by_key: dict[tuple[Any, ...], PlayedTurn] = {}
        self._started: Counter[tuple[TurnKind, str | None]] = Counter()
        self._calls: Counter[str] = Counter()
        self._planner_sessions: list[str | None] = []
        self._malformed_left = scenario.malformed_plans
        self._script_faults: Counter[str] = Counter()
        self._waiters: list[anyio.Event] = []

    # -- queries ---------------------------------------------------------------------

    def played(
        self, role: Role | None = None, kind: TurnKind | None = None, unit: str | None = None
    ) -> list[PlayedTurn]:
        """The turns played, in order of their first request, filtered by what is given."""
        return [
            t
            for t in self.turns
            if (role is None or t.role is role)
            and (kind is None or t.kind is kind)
            and (unit is None or t.unit == unit)
        ]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds; it is checked after every request.

        Bound it with ``anyio.fail_after``.
        """
        while not condition():
            event = anyio.Event()
            self._waiters.append(event)
            await event.wait()

    # -- answering -------------------------------------------------------------------

    def __call__(self, body: dict[str, Any], headers: Mapping[str, str]) -> TurnPlan:
        """The answer to one chat request (the :data:`~.fake_llm.Responder` signature)."""
        try:
            return self._answer(body, headers)
        finally:
            waiters, self._waiters = self._waiters, []
            for event in waiters:
                event.set()

    def _answer(self, body: dict[str, Any], headers: Mapping[str, str]) -> TurnPlan:
        messages: list[dict[str, Any]] = body.get("messages") or []
        session = headers.get("x-session-id")
        parent = headers.get("x-parent-session-id")
        system = system_text(messages)
        role = detect_role(system)
        if role is None:
            self._record(None, session, parent, "script", messages)
            return plan_turn(body, self._script_faults)
        played = self._turn(role, messages, system, session, parent)
        played.requests += 1
        # Replaced, not appended: a retried call carries the same results again.
        played.results = results_since_user(messages)
        turn = played.turn
        if self._rate_limited(turn):
            self._record(played, session, parent, "429", messages)
            return TurnPlan(fault=Fault.RATE_LIMIT)
        done = len(calls_since_user(messages))
        if done < len(turn.steps):
            step = turn.steps[done]
            self._record(played, session, parent, f"tool:{step.name}", messages)
            return TurnPlan(tool_call=ToolCall(step.name, dict(step.args), _call_id()))
        played.answered = time.monotonic()
        offered = {str(t.get("function", {}).get("name")) for t in body.get("tools") or ()}
        if turn.answer is not None and STRUCTURED_OUTPUT_TOOL in offered:
            self._record(played, session, parent, "structured", messages)
            call = ToolCall(STRUCTURED_OUTPUT_TOOL, dict(turn.answer), _call_id())
            return TurnPlan(tool_call=call)
        self._record(played, session, parent, "text", messages)
        return TurnPlan(text=turn.text or "done")

    def _rate_limited(self, turn: RoleTurn) -> bool:
        if turn.role is Role.PLANNER:
            limit, key = self.scenario.planner_rate_limit, "planner"
        elif turn.role is Role.WORKER and turn.unit is not None:
            script = self.scenario.unit(turn.unit)
            limit, key = (script.rate_limit if script else 0), f"worker:{turn.unit}"
        else:
            return False
        self._calls[key] += 1
        return self._calls[key] <= limit

    def _turn(
        self,
        role: Role,
        messages: list[dict[str, Any]],
        system: str,
        session: str | None,
        parent: str | None,
    ) -> PlayedTurn:
        prompt = newest_user_text(messages)
        kind = classify_turn(role, prompt)
        brief = parse_unit_brief(prompt) if role in (Role.WORKER, Role.REVIEWER) else None
        unit = brief.id if brief is not None else None
        if session is None:
            self.unexpected.append(f"{role} request without x-session-id")
        key = (session, role, unit, user_turns(messages), prompt)
        played = self._by_key.get(key)
        if played is not None:
            return played
        self._started[(kind, unit)] += 1
        number = self._started[(kind, unit)]
        turn = self._decide(
            role, kind, unit=unit, number=number, messages=messages, system=system, session=session
        )
        played = PlayedTurn(turn, session, parent, number, time.monotonic())
        self._by_key[key] = played
        self.turns.append(played)
        return played

    def _decide(
        self,
        role: Role,
        kind: TurnKind,
        *,
        unit: str | None,
        number: int,
        messages: list[dict[str, Any]],
        system: str,
        session: str | None,
    ) -> RoleTurn:
        scenario = self.scenario
        if kind is TurnKind.RESTATE:
            return restate_turn(role, unit, last_structured(messages))
        if role is Role.PLANNER:
            if session not in self._planner_sessions:
                self._planner_sessions.append(session)
            if self._malformed_left > 0:
                self._malformed_left -= 1
                return malformed_plan_turn(scenario.malformed_as)
            return planner_turn(scenario, self._planner_sessions.index(session) + 1)
        if role is Role.MASTER:
            return review_turn(role, kind, None, scenario.master_verdict(number))
        if unit is None:
            self.unexpected.append(f"{role} {kind} turn without a <unit>")
        script = scenario.unit(unit) if unit is not None else None
        if unit is not None and script is None:
            self.unexpected.append(f"unit {unit} is not in the scenario")
        if role is Role.WORKER:
            directory = working_directory(system)
            return worker_turn(unit or "?", script, kind, directory, first=number == 1)
        verdicts: list[ReviewVerdict] = []
        if script is not None:
            verdicts = script.shadow_reviews if kind is TurnKind.SHADOW else script.reviews
        verdict = verdicts[number - 1] if number <= len(verdicts) else _PASS
        return review_turn(role, kind, unit, verdict)

    def _record(
        self,
        played: PlayedTurn | None,
        session: str | None,
        parent: str | None,
        answer: str,
        messages: list[dict[str, Any]],
    ) -> None:
        self.requests.append(
            ScenarioRequest(
                at=time.monotonic(),
                role=played.role if played else None,
                kind=played.kind if played else None,
                unit=played.unit if played else None,
                session=session,
                parent=parent,
                answer=answer,
                tool_result=last_tool_result(messages),
            )
        )


def _call_id() -> str:
    # OpenCode matches each tool result to its call by this id.
    return "call_" + uuid.uuid4().hex[:24]
