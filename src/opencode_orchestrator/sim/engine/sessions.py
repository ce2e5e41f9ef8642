"""The session hub: sessions in memory, turns queued per session, statuses, aborts.

Memory per idle session is its info dict and nothing else: no task, no
stream, no lock. A session gets an :class:`_Activity` (a queue of prompts and
the cancel scope of the running turn) only while it is busy, and one task
drains that queue; when the queue is empty the session goes idle and the
activity is dropped. Transcripts live in sqlite, not here.

Writes to the store are queued and committed in groups (:mod:`..state.batch`);
events go out through a :class:`Publisher`, after the writes queued before
them are committed. A route that answers from what it wrote waits for the
commit (:meth:`SimStore.committed`).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskGroup

from opencode_orchestrator.log import get_logger
from opencode_orchestrator.sim.agents import AgentContext, decide_turn
from opencode_orchestrator.sim.config import SimConfig
from opencode_orchestrator.sim.engine.bus import EventBus
from opencode_orchestrator.sim.engine.faults import FaultInjector
from opencode_orchestrator.sim.engine.permissions import PermissionBroker
from opencode_orchestrator.sim.engine.projects import ProjectIds
from opencode_orchestrator.sim.engine.publisher import Publisher
from opencode_orchestrator.sim.engine.turn_writer import PromptRequest
from opencode_orchestrator.sim.engine.turns import run_turn, start_turn_messages
from opencode_orchestrator.sim.state import records
from opencode_orchestrator.sim.state.records import Json, now_ms
from opencode_orchestrator.sim.state.store import SimStore

__all__ = ["SessionHub", "TurnInterruptedError"]

_log = get_logger(__name__)
_IDLE: Json = {"type": "idle"}


@dataclass(slots=True)
class _Pending:
    request: PromptRequest
    blocking: bool
    """Whether a caller waits for the answer (its reply must follow the turn's events)."""
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Json | None = None
    interrupted: bool = False


class TurnInterruptedError(Exception):
    """The simulator stopped (killed or restarting) while a blocking prompt waited."""


@dataclass(slots=True)
class _Activity:
    queue: deque[_Pending] = field(default_factory=deque)
    scope: anyio.CancelScope | None = None
    status: Json = field(default_factory=lambda: {"type": "busy"})


class SessionHub:
    """Every session the simulator knows, and the turns running in them."""

    def __init__(
        self,
        store: SimStore,
        bus: EventBus,
        config: SimConfig,
        faults: FaultInjector,
        task_group: TaskGroup,
    ) -> None:
        self.store = store
        self.bus = bus
        self.config = config
        self.faults = faults
        self._tg = task_group
        self._agents = AgentContext(config)
        self._latency_rng = random.Random(f"{config.seed}:latency")  # noqa: S311
        self.sessions: dict[str, Json] = {}
        self._active: dict[str, _Activity] = {}
        self._projects = ProjectIds()
        self.publisher = Publisher(bus, store, self._projects)
        self.emit = self.publisher.emit
        self.emit_stored = self.publisher.emit_stored
        self.permissions = PermissionBroker(self.emit)

    async def load(self) -> None:
        """Read sessions from the store, ending turns a crash left unfinished."""
        await self.store.end_interrupted_turns()
        self.sessions = {info["id"]: info for info in await self.store.sessions()}
        for info in self.sessions.values():
            self._projects.remember(info["directory"], info["projectID"])

    def set_status(self, session_id: str, status: Json) -> None:
        """Record and publish a session status."""
        activity = self._active.get(session_id)
        if activity is not None:
            activity.status = status
        info = self.sessions.get(session_id)
        if info is not None:
            self.emit(
                info["directory"], "session.status", {"sessionID": session_id, "status": status}
            )

    def statuses(self, directory: str) -> dict[str, Json]:
        """``GET /session/status``: busy and retrying sessions of ``directory`` (idle left out)."""
        # A turn publishes its idle status a moment before it leaves `_active`;
        # a client that saw the idle event must not find the session listed.
        return {
            sid: activity.status
            for sid, activity in self._active.items()
            if self.sessions.get(sid, {}).get("directory") == directory
            and activity.status.get("type") != "idle"
        }

    def is_busy(self, session_id: str) -> bool:
        """Whether a turn runs (or is queued) in the session."""
        return session_id in self._active

    async def create(self, directory: str, body: Json) -> Json:
        """Create a session from a validated ``POST /session`` body."""
        extra: Json = {
            k: body[k] for k in ("agent", "model", "metadata", "permission") if k in body
        }
        info = records.session_info(
            directory=directory,
            project_id=await self.project_id(directory),
            title=body.get("title"),
            parent_id=body.get("parentID"),
            extra=extra,
        )
        self.sessions[info["id"]] = info
        self.store.put_session(info)
        # Committed, then announced, then answered: the answer is written before
        # the stream gets to write the event, as when each write was awaited.
        await self.store.committed()
        self.emit(directory, "session.created", {"sessionID": info["id"], "info": info})
        return info

    async def project_id(self, directory: str) -> str:
        """OpenCode's project id: the git root commit of ``directory``, else ``global``."""
        return await self._projects.lookup(directory)

    async def update(self, session_id: str, patch: Json) -> Json:
        """Apply a validated ``PATCH /session/{id}`` body."""
        info = self.sessions[session_id]
        for key in ("title", "metadata", "permission"):
            if key in patch:
                info[key] = patch[key]
        if "archived" in patch.get("time", {}):
            info["time"]["archived"] = patch["time"]["archived"]
        info["time"]["updated"] = now_ms()
        self.store.put_session(info)
        await self.store.committed()  # as in create: committed, announced, answered
        self.emit(info["directory"], "session.updated", {"sessionID": session_id, "info": info})
        return info

    def touch(self, session_id: str) -> None:
        """Bump ``time.updated``, persist and publish ``session.updated``."""
        info = self.sessions[session_id]
        info["time"]["updated"] = now_ms()
        body = self.store.put_session(info)
        self.emit_stored(
            info["directory"], b"session.updated", session_id, key=b"info", document=body
        )

    def children(self, session_id: str) -> list[Json]:
        """The sessions whose parent is ``session_id``."""
        return [s for s in self.sessions.values() if s.get("parentID") == session_id]

    async def delete(self, session_id: str) -> None:
        """Delete a session and, first, its children; a running turn is aborted."""
        for child in self.children(session_id):
            await self.delete(child["id"])
        self.abort(session_id)
        info = self.sessions.pop(session_id)
        await self.store.delete_session(session_id)
        self.emit(info["directory"], "session.deleted", {"sessionID": session_id, "info": info})

    def abort(self, session_id: str) -> bool:
        """Abort the running turn and drop the queued ones; ``True`` as OpenCode answers."""
        activity = self._active.get(session_id)
        if activity is not None:
            dropped = list(activity.queue)
            activity.queue.clear()
            for pending in dropped:
                pending.done.set()
            if activity.scope is not None:
                activity.scope.cancel()
        return True

    async def prompt(self, session_id: str, request: PromptRequest, *, wait: bool) -> Json | None:
        """Queue a prompt; with ``wait``, return its ``{info, parts}`` once the turn ends.

        ``None`` when the prompt never ran (aborted while queued, or the simulator stopped).
        """
        if request.no_reply:
            result = await start_turn_messages(self, self.sessions[session_id], request)
            await self.store.committed()
            return result
        pending = _Pending(request, blocking=wait)
        activity = self._active.get(session_id)
        if activity is None:
            activity = self._active[session_id] = _Activity()
            activity.queue.append(pending)
            self._tg.start_soon(self._drain, session_id, activity)
        else:
            activity.queue.append(pending)
        if not wait:
            return None
        await pending.done.wait()
        if pending.interrupted:
            raise TurnInterruptedError(session_id)
        return pending.result

    @asynccontextmanager
    async def occupied(self, session_id: str) -> AsyncIterator[None]:
        """Mark the session busy around work that is not a queued turn (``shell``)."""
        activity = self._active[session_id] = _Activity()
        self.set_status(session_id, activity.status)
        try:
            yield
        finally:
            self._active.pop(session_id, None)
        self.set_status(session_id, _IDLE)
        self.emit(self.sessions[session_id]["directory"], "session.idle", {"sessionID": session_id})
        await self.store.committed()

    def _think_time(self) -> float:
        latency = self.config.latency
        return max(0.0, self._latency_rng.uniform(-1, 1) * latency.jitter + latency.mean)

    async def _drain(self, session_id: str, activity: _Activity) -> None:
        last: _Pending | None = None
        try:
            while activity.queue and session_id in self.sessions:
                if last is not None:
                    last.done.set()
                last = activity.queue.popleft()
                try:
                    last.result = await self._turn(session_id, activity, last.request)
                    if last.blocking:
                        # Its answer goes out once what the turn wrote is committed and published.
                        await self.store.committed()
                except anyio.get_cancelled_exc_class():
                    # The simulator is stopping under this turn: like a killed
                    # OpenCode, it must not answer the blocking callers.
                    for waiter in (last, *activity.queue):
                        waiter.interrupted = True
                    raise
            info = self.sessions.get(session_id)
            del self._active[session_id]
            if info is not None:
                # Idle before the blocking caller hears back, as in OpenCode.
                self.set_status(session_id, _IDLE)
                self.emit(info["directory"], "session.idle", {"sessionID": session_id})
                self.touch(session_id)
            if last is not None and last.blocking:
                await self.store.committed()
        finally:
            # Reached with the loop cancelled too (the simulator stopping): no
            # awaiting here, just release every waiter. A prompt sent once the
            # session went idle (while committing) has a new activity: keep it.
            if self._active.get(session_id) is activity:
                del self._active[session_id]
            for pending in (last, *activity.queue):
                if pending is not None:
                    pending.done.set()

    async def _turn(self, session_id: str, activity: _Activity, request: PromptRequest) -> Json:
        # The scope exists before the first await: an abort that arrives while the
        # user message is being stored must still stop this turn, as in OpenCode.
        scope = anyio.CancelScope()
        activity.scope = scope
        session = self.sessions[session_id]
        session["agent"] = request.agent
        session["model"] = {"id": records.MODEL_ID, "providerID": records.PROVIDER_ID}
        session["model"]["variant"] = "default"
        self.touch(session_id)
        user = await start_turn_messages(self, session, request)
        self.touch(session_id)
        self.set_status(session_id, {"type": "busy"})
        script = self.faults.apply(
            decide_turn(self._agents, request.agent, request.text, session["directory"])
        )
        try:
            return await run_turn(
                self,
                session,
                request,
                script,
                user_id=user["info"]["id"],
                think=self._think_time(),
                scope=scope,
            )
        finally:
            activity.scope = None
