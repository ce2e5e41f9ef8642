"""Permission rules and pending requests, as OpenCode 1.18.33 evaluates and answers them.

Read from the JavaScript embedded in the 1.18.33 binary (``Permission.ask``,
``Permission.reply``, ``Wildcard.match``) and checked against a real server
(``tests/contract/samples/permission_reject.json``):

* A rule is ``{permission, pattern, action}``. The rulesets are the agent's
  (here: what our test projects configure, :data:`AGENT_RULES`) followed by the
  session's ``permission``, then the rules ``always`` replies added. The
  **last** rule whose ``permission`` and ``pattern`` both match wins; with none,
  the answer is ``ask``.
* A call asks once for all its patterns: any pattern denied fails the call
  (``PermissionDeniedError``), all allowed runs it, otherwise one request is
  published (``permission.asked``) and the tool waits for the reply.
* ``reject`` fails the call; with a ``message`` the model gets it as feedback
  and the loop goes on, without one the turn stops. It also rejects the
  session's other pending requests. ``always`` adds allow rules for the
  request's ``always`` patterns for the whole project (not only the session;
  kept in memory, as OpenCode does) and lets through other pending requests of
  the session they now cover.
* An abort does not withdraw a pending request: it stays listed (observed).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import orjson

from opencode_orchestrator.sim.engine.tools import ToolFailedError
from opencode_orchestrator.sim.ids import IdKind, new_id
from opencode_orchestrator.sim.state.records import Json

__all__ = [
    "AGENT_RULES",
    "PermissionBroker",
    "PermissionDeniedError",
    "PermissionRejectedError",
    "evaluate",
    "tool_disabled",
    "wildcard_match",
]

#: The agent's rules as the real server reports them for our test projects (its
#: built-in ``*: allow`` and ``opencode.json``'s ``permission``), in its key order.
AGENT_RULES: Final[tuple[Json, ...]] = (
    {"permission": "*", "action": "allow", "pattern": "*"},
    {"permission": "edit", "action": "allow", "pattern": "*"},
    {"permission": "bash", "action": "allow", "pattern": "*"},
    {"permission": "webfetch", "action": "deny", "pattern": "*"},
)
_REJECTED: Final = "The user rejected permission to use this specific tool call."
_CORRECTED: Final = _REJECTED.removesuffix(".") + " with the following feedback: "
_DENIED: Final = (
    "The user has specified a rule which prevents you from using this specific tool call. "
    "Here are some of the relevant rules "
)
_REGEX_SPECIALS = re.compile(r"[.+^${}()|\[\]\\]")

Emit = Callable[[str, str, Json], None]


def wildcard_match(value: str, pattern: str) -> bool:
    """OpenCode's ``Wildcard.match``: ``*`` any run, ``?`` one character, anchored.

    A trailing ``" *"`` also matches nothing at all, so ``"ls *"`` matches ``"ls"``.
    Backslashes count as slashes, as on Windows paths.
    """
    return _compiled(pattern).fullmatch(value.replace("\\", "/")) is not None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    # Rules are few and asked about for every tool call: each is translated once.
    escaped = _REGEX_SPECIALS.sub(lambda m: "\\" + m.group(0), pattern.replace("\\", "/"))
    regex = escaped.replace("*", ".*").replace("?", ".")
    if regex.endswith(" .*"):
        regex = regex[:-3] + "( .*)?"
    return re.compile(regex, re.DOTALL)


def evaluate(permission: str, pattern: str, *rulesets: Sequence[Json]) -> Json:
    """The rule that decides ``permission`` on ``pattern``: the last match, else ``ask``."""
    for rule in reversed([rule for ruleset in rulesets for rule in ruleset]):
        if wildcard_match(permission, str(rule["permission"])) and wildcard_match(
            pattern, str(rule["pattern"])
        ):
            return rule
    return {"action": "ask", "permission": permission, "pattern": "*"}


def tool_disabled(permission: str, rules: Sequence[Json]) -> bool:
    """Whether the tool is withheld from the model: its last rule is ``deny`` on ``*``."""
    last = next((r for r in reversed(rules) if wildcard_match(permission, r["permission"])), None)
    return last is not None and last["pattern"] == "*" and last["action"] == "deny"


class PermissionRejectedError(ToolFailedError):
    """The user rejected the call; without feedback the turn stops after this step."""

    def __init__(self, feedback: str | None) -> None:
        super().__init__(_REJECTED if feedback is None else _CORRECTED + feedback)
        self.stops_turn = feedback is None


class PermissionDeniedError(ToolFailedError):
    """A ``deny`` rule matched; the model is told which rules apply."""

    def __init__(self, relevant: Sequence[Json]) -> None:
        rules = orjson.dumps(list(relevant)).decode()
        super().__init__(_DENIED + rules)


@dataclass(slots=True)
class _Request:
    info: Json
    directory: str
    answered: anyio.Event = field(default_factory=anyio.Event)
    reply: str | None = None
    feedback: str | None = None


@dataclass(slots=True)
class PermissionBroker:
    """Pending permission requests and the ``always`` approvals, per project directory."""

    emit: Emit
    pending: dict[str, _Request] = field(default_factory=dict)
    approved: dict[str, list[Json]] = field(default_factory=dict)

    async def ask(
        self,
        directory: str,
        ruleset: Sequence[Json],
        request: Json,
    ) -> None:
        """Decide ``request`` (``sessionID, permission, patterns, metadata, always, tool``).

        Returns when the call may run; waits for a reply when a rule says ``ask``.

        Raises:
            PermissionDeniedError: a pattern is denied.
            PermissionRejectedError: the user replied ``reject``.
        """
        if self.must_ask(directory, ruleset, str(request["permission"]), request["patterns"]):
            await self.wait_for_reply(directory, request)

    def must_ask(
        self, directory: str, ruleset: Sequence[Json], permission: str, patterns: Sequence[str]
    ) -> bool:
        """Whether a call needs a reply first (``False``: it may run now).

        Raises:
            PermissionDeniedError: a pattern is denied.
        """
        approved = self.approved.setdefault(directory, [])
        must_ask = False
        for pattern in patterns:
            action = evaluate(permission, pattern, ruleset, approved)["action"]
            if action == "deny":
                relevant = [r for r in ruleset if wildcard_match(permission, r["permission"])]
                raise PermissionDeniedError(relevant)
            must_ask = must_ask or action != "allow"
        return must_ask

    async def wait_for_reply(self, directory: str, request: Json) -> None:
        """Publish ``request`` as ``permission.asked`` and return once it is allowed.

        Raises:
            PermissionRejectedError: the user replied ``reject``.
        """
        pending = _Request({"id": new_id(IdKind.PERMISSION), **request}, directory)
        self.pending[pending.info["id"]] = pending
        self.emit(directory, "permission.asked", pending.info)
        # No clean-up when cancelled: OpenCode keeps listing a request whose turn was aborted.
        await pending.answered.wait()
        if pending.reply == "reject":
            raise PermissionRejectedError(pending.feedback)

    def listed(self, directory: str) -> list[Json]:
        """``GET /permission``: the project's pending requests, oldest first."""
        return [p.info for p in self.pending.values() if p.directory == directory]

    def reply(self, request_id: str, reply: str, message: str | None = None) -> bool:
        """Answer a request; ``False`` when no such request is pending."""
        request = self.pending.pop(request_id, None)
        if request is None:
            return False
        self._answer(request, reply, message)
        session_id = request.info["sessionID"]
        others = [p for p in self.pending.values() if p.info["sessionID"] == session_id]
        if reply == "reject":
            for other in others:
                del self.pending[other.info["id"]]
                self._answer(other, "reject", None)
        elif reply == "always":
            approved = self.approved.setdefault(request.directory, [])
            approved.extend(
                {"permission": request.info["permission"], "pattern": p, "action": "allow"}
                for p in request.info["always"]
            )
            for other in others:
                perm = str(other.info["permission"])
                if all(
                    evaluate(perm, p, approved)["action"] == "allow" for p in other.info["patterns"]
                ):
                    del self.pending[other.info["id"]]
                    self._answer(other, "always", None)
        return True

    def _answer(self, request: _Request, reply: str, feedback: str | None) -> None:
        request.reply, request.feedback = reply, feedback
        replied: dict[str, Any] = {
            "sessionID": request.info["sessionID"],
            "requestID": request.info["id"],
            "reply": reply,
        }
        self.emit(request.directory, "permission.replied", replied)
        request.answered.set()
