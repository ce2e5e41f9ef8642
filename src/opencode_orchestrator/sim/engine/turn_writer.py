"""A turn's records: its messages and parts, persisted first, then published.

Every ``message.updated`` / ``message.part.updated`` is persisted before it is
published, so a client that reacts to an event can read the transcript it
describes. Deltas are not persisted: the part's final update carries the text.

The tool parts a turn adds are in :mod:`.tool_parts`, its faults in
:mod:`.turn_faults`, and the order it all happens in is in :mod:`.turns`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import anyio

from opencode_orchestrator.sim.agents import TurnScript
from opencode_orchestrator.sim.engine.tools import FileChange, diff_entry
from opencode_orchestrator.sim.state import records
from opencode_orchestrator.sim.state.records import Json, now_ms
from opencode_orchestrator.testing.script import ScriptedUsage

if TYPE_CHECKING:
    from opencode_orchestrator.sim.config import SimConfig
    from opencode_orchestrator.sim.engine.permissions import PermissionBroker
    from opencode_orchestrator.sim.state.store import SimStore

__all__ = ["PromptRequest", "TurnFailedError", "TurnHost", "TurnWriter"]

_WORDS = re.compile(r"\S+\s*|\s+")


class TurnHost(Protocol):
    """What a turn needs from the session hub."""

    store: SimStore
    config: SimConfig
    permissions: PermissionBroker

    def emit(self, directory: str, kind: str, properties: Json) -> None:
        """Publish an event for ``directory``."""

    def emit_stored(
        self,
        directory: str,
        kind: bytes,
        session_id: str,
        *,
        key: bytes,
        document: bytes,
        rest: bytes = b"",
    ) -> None:
        """Publish ``{sessionID, <key>: document, ...rest}`` with ``document`` already JSON."""

    def set_status(self, session_id: str, status: Json) -> None:
        """Record and publish a session status."""


@dataclass(frozen=True, slots=True)
class PromptRequest:
    """A validated prompt body (``POST /session/{id}/message`` and ``prompt_async``)."""

    text: str
    parts: tuple[Json, ...]
    agent: str
    message_id: str | None = None
    format: Json | None = None
    system: str | None = None
    tools: dict[str, bool] | None = None
    no_reply: bool = False


class TurnFailedError(Exception):
    """The turn ends with ``error`` on its message; ``report`` goes in ``session.error``."""

    def __init__(self, error: Json, *, report: Json | None = None, silent: bool = False) -> None:
        super().__init__(error["name"])
        self.error = error
        self.report = None if silent else report if report is not None else error


@dataclass(slots=True)
class TurnWriter:
    """Writes one turn's messages and parts: persisted first, then published."""

    host: TurnHost
    session: Json
    request: PromptRequest
    script: TurnScript
    user_id: str = ""
    assistant: Json = field(default_factory=dict)
    parts: list[Json] = field(default_factory=list)
    changes: list[FileChange] = field(default_factory=list)
    sid: str = field(init=False)
    """The session id."""
    directory: str = field(init=False)
    """The session's project directory."""

    def __post_init__(self) -> None:
        self.sid = str(self.session["id"])
        self.directory = str(self.session["directory"])

    async def pause(self) -> None:
        """Wait the configured pause between events of a turn (deltas, tool states)."""
        step = self.host.config.latency.step
        if step:
            await anyio.sleep(step)

    async def _paced(self) -> None:
        # With `step` unset, the turn goes on once its update is committed and
        # published, as on a server that stores each update before publishing
        # it (and as this simulator did when it awaited every write): a client
        # reacting to an event meets a turn that has moved on by about as much
        # as it would there. Otherwise writes are grouped into fewer commits.
        if self.host.config.latency.step is None:
            await self.host.store.committed(urgent=True)

    async def put_message(self, info: Json) -> None:
        """Persist a message info, then publish ``message.updated``."""
        body = self.host.store.put_message(info)
        self.host.emit_stored(
            self.directory, b"message.updated", self.sid, key=b"info", document=body
        )
        await self._paced()

    async def put_part(self, part: Json) -> None:
        """Persist a part, then publish ``message.part.updated`` (with the time it was sent)."""
        body = self.host.store.put_part(part)
        time = b',"time":%d' % now_ms()
        self.host.emit_stored(
            self.directory, b"message.part.updated", self.sid, key=b"part", document=body, rest=time
        )
        await self._paced()

    async def new_assistant(self, agent: str | None = None) -> None:
        """Start a new assistant message (one per model call)."""
        self.assistant = records.assistant_message(
            self.sid,
            parent_id=self.user_id,
            agent=agent or self.request.agent,
            directory=self.directory,
        )
        self.parts = []
        await self.put_message(self.assistant)

    async def start_step(self) -> None:
        """Add a ``step-start`` part."""
        part = records.step_start_part(self.sid, self.assistant["id"])
        self.parts.append(part)
        await self.put_part(part)

    async def finish_step(self, usage: ScriptedUsage, reason: str, output_share: float) -> None:
        """Add ``step-finish``; complete the message with its tokens and cost."""
        output = math.ceil(usage.output * output_share)
        tokens = {
            "total": usage.input + output + usage.reasoning + usage.cache_read,
            "input": usage.input,
            "output": output,
            "reasoning": usage.reasoning,
            "cache": {"read": usage.cache_read, "write": 0},
        }
        cost = round((usage.input + output) / 1000 * self.host.config.cost_per_1k_tokens, 8)
        part = records.step_finish_part(
            self.sid, self.assistant["id"], reason=reason, tokens=tokens, cost=cost
        )
        self.parts.append(part)
        await self.put_part(part)
        self.assistant["tokens"] = tokens
        self.assistant["cost"] = cost
        self.assistant["finish"] = reason
        await self.put_message(self.assistant)

    async def complete(self) -> None:
        """Stamp ``time.completed`` on the assistant message and publish it."""
        self.assistant["time"]["completed"] = now_ms()
        await self.put_message(self.assistant)

    async def text(self, text: str, *, cut: bool = False) -> None:
        """Add a text part grown by deltas; ``cut`` stops half-way and fails the turn."""
        part = records.text_part(self.sid, self.assistant["id"], "", timed=True)
        self.parts.append(part)
        await self.put_part(part)
        # OpenCode's deltas arrive a word at a time, trailing space included.
        pieces = _WORDS.findall(text) or [""]
        if cut:
            pieces = pieces[:1]
        for piece in pieces:
            await self.pause()
            part["text"] += piece
            self.host.emit(
                self.directory,
                "message.part.delta",
                {
                    "sessionID": self.sid,
                    "messageID": self.assistant["id"],
                    "partID": part["id"],
                    "field": "text",
                    "delta": piece,
                },
            )
        if cut:
            return
        part["time"]["end"] = now_ms()
        await self.put_part(part)

    async def publish_diff(self) -> None:
        """Merge the turn's file changes into the session diff; publish it."""
        if not self.changes:
            return
        current = {entry["file"]: entry for entry in await self.host.store.diff(self.sid)}
        for change in self.changes:
            previous = current.get(change.relative)
            entry = diff_entry(change, None)
            if previous is not None and previous.get("status") == "added":
                entry["status"] = "added"
            current[change.relative] = entry
        diff = list(current.values())
        self.changes = []
        self.host.store.put_diff(self.sid, diff)
        self.host.emit(self.directory, "session.diff", {"sessionID": self.sid, "diff": diff})
