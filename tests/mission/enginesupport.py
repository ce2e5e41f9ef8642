"""Shared set-up of the engine tests: missions run on an in-process simulator.

* :func:`simulated` starts a simulator and a client of it for one project.
* :func:`run_mission` creates a mission there and runs it to a final state.
* :class:`Tap` sees every record the engine journals, the moment it is
  written, so a test can act at an exact point of the mission (switch a
  simulator fault on, cut the engine, ask for a cancel) without guessing at
  timing, and wait for a state without polling.
* :class:`Wal` reads a mission's WAL back (what the engine decided, in
  order); :class:`SimRecord` reads the simulator's own store (what OpenCode
  was asked and answered). The message list of a session that was sent a
  ``format`` prompt answers 400 (OpenCode 1.18's bug, reproduced by the
  simulator), so transcripts are read from the store, never over HTTP.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.model import MissionModel
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.states import MissionState
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.opencode.models import AssistantMessage, Event, MessageUpdatedEvent
from opencode_orchestrator.sim import FaultConfig, SimConfig, SimServer
from opencode_orchestrator.sim.state.store import SimStore
from opencode_orchestrator.wal.log import Durability
from opencode_orchestrator.wal.paths import mission_wal_dir
from opencode_orchestrator.wal.record import Record
from opencode_orchestrator.wal.tools import inspect_log

__all__ = [
    "BOUND",
    "GOAL",
    "EventLog",
    "Run",
    "Sim",
    "SimRecord",
    "Tap",
    "Wal",
    "fault_turns",
    "only",
    "resume_mission",
    "run_mission",
    "run_until_cut",
    "sim_config",
    "simulated",
    "watching",
]

BOUND = 30.0
"""Generous: a test that reaches it hangs, it is never a slow machine."""

GOAL = "build the thing"

Json = dict[str, Any]
Hook = Callable[[str, Json], None]


def _merge(base: Json, update: Json) -> Json:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def sim_config(**overrides: Any) -> SimConfig:
    """A fast, seeded simulator config (small latencies) with ``overrides`` merged in."""
    base: Json = {
        "seed": 3,
        "retry_delay": 0.001,
        "latency": {"mean": 0.002, "jitter": 0.002},
        "planner": {"units": 2, "shape": "chain"},
    }
    return SimConfig.model_validate(_merge(base, overrides))


@dataclass(frozen=True, slots=True)
class Sim:
    """A running simulator, a client of it, and the project both work in."""

    server: SimServer
    client: OpenCodeClient
    project: Path
    state_dir: Path

    async def record(self) -> SimRecord:
        """What the simulator has stored so far."""
        return await SimRecord.read(self.state_dir)


@asynccontextmanager
async def simulated(tmp_path: Path, config: SimConfig | None = None) -> AsyncIterator[Sim]:
    """A simulator serving ``tmp_path/project`` and an open client of it."""
    project = tmp_path / "project"
    project.mkdir(parents=True, exist_ok=True)
    state_dir = tmp_path / "sim-state"
    async with (
        SimServer.running(state_dir, config=config or sim_config(), directory=str(project)) as sim,
        OpenCodeClient(sim.base_url, directory=str(project)) as client,
    ):
        yield Sim(sim, client, project, state_dir)


class EventLog:
    """Every event the simulator sent for the project, as a client of it read them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = anyio.Event()

    def add(self, event: Event) -> None:
        """Record one event."""
        self.events.append(event)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, condition: Callable[[], bool], bound: float = BOUND) -> None:
        """Until ``condition()`` holds (checked now and after each event)."""
        with anyio.fail_after(bound):
            while not condition():
                await self._changed.wait()

    def answered(self, user_message: str, error: str | None = None) -> bool:
        """Whether an answer to ``user_message`` ended (in ``error``, if given)."""
        for event in self.events:
            if not isinstance(event, MessageUpdatedEvent):
                continue
            info = event.properties.info
            if not isinstance(info, AssistantMessage) or info.parent_id != user_message:
                continue
            if error is None and (info.structured is not None or info.error is not None):
                return True
            if error is not None and info.error is not None and info.error.name == error:
                return True
        return False


@asynccontextmanager
async def watching(sim: Sim) -> AsyncIterator[EventLog]:
    """An :class:`EventLog` of ``sim``'s events from now on (subscribed when entered)."""
    log = EventLog()
    async with sim.client.events() as stream, anyio.create_task_group() as tg:
        await stream.subscribed()

        async def read() -> None:
            async for event in stream:
                log.add(event)

        tg.start_soon(read)
        yield log
        tg.cancel_scope.cancel()


class Tap:
    """Every record the engine journals, seen as it is written.

    Hooks run synchronously right after a record is applied to the model,
    before the engine acts on it (sends the prompt, starts the review), so
    what a hook changes (a simulator fault, a cancel) takes effect exactly there.
    """

    def __init__(self) -> None:
        self.records: list[tuple[str, Json]] = []
        self._hooks: list[Hook] = []
        self._frozen = False
        self.engine: MissionEngine | None = None
        """The engine attached (hooks may act on it: ``request_cancel``)."""

    def on(self, hook: Hook) -> None:
        """Call ``hook(type, data)`` after each record."""
        self._hooks.append(hook)

    def attach(self, engine: MissionEngine) -> None:
        """Start seeing ``engine``'s records (wraps its journal's ``write``)."""
        self.engine = engine
        journal = engine.ctx.journal
        write = journal.write

        async def tapped(record_type: RecordType, data: Json, *, durable: bool = True) -> None:
            if self._frozen:
                await anyio.sleep_forever()  # the engine was cut: nothing more reaches the WAL
            await write(record_type, data, durable=durable)
            self.records.append((record_type.value, data))
            for hook in list(self._hooks):
                hook(record_type.value, data)

        setattr(journal, "write", tapped)  # noqa: B010 - an instance attribute shadows the method

    def freeze(self) -> None:
        """Let no further record reach the WAL (writes wait until cancelled): a crash here."""
        self._frozen = True


def fault_turns(
    tap: Tap,
    sim: Sim,
    *,
    kinds: Collection[str],
    attempts: Collection[int] | None = None,
    **faults: Any,
) -> None:
    """Switch the simulator's ``faults`` on exactly while turns of ``kinds`` run.

    On when such a turn's intent is journaled (its prompt is sent right
    after), off when it ends: only turns that start meanwhile draw them, so
    with one unit at a time the fault hits just the turns named.
    """
    live: set[str] = set()

    def hook(record_type: str, data: Json) -> None:
        if (
            record_type == RecordType.TURN_INTENT
            and data["kind"] in kinds
            and (attempts is None or data["attempt"] in attempts)
        ):
            live.add(data["turn"])
            sim.server.set_faults(FaultConfig(), **faults)
        elif record_type == RecordType.TURN_ENDED and data["turn"] in live:
            live.discard(data["turn"])
            sim.server.set_faults(FaultConfig())

    tap.on(hook)


@dataclass(slots=True)
class Run:
    """A mission run to its end: its final state, its model, and its journal on disk."""

    mission_id: str
    state: MissionState
    model: MissionModel
    engine: MissionEngine
    wal: Wal


async def run_mission(
    sim: Sim,
    config: MissionConfig | None = None,
    *,
    goal: str = GOAL,
    tap: Tap | None = None,
    bound: float = BOUND,
    mission_id: str | None = None,
    setup: Callable[[MissionEngine], None] | None = None,
) -> Run:
    """Create a mission on ``sim`` and run it to a final state (within ``bound`` s).

    ``setup`` is called with the engine before it runs (to observe its router, say).
    """
    async with MissionEngine.create(
        sim.project,
        goal,
        sim.client,
        config=config,
        mission_id=mission_id,
        durability=Durability.NONE,
    ) as engine:
        if tap is not None:
            tap.attach(engine)
        if setup is not None:
            setup(engine)
        with anyio.fail_after(bound):
            state = await engine.run()
    mid = engine.ctx.mission_id
    return Run(mid, state, engine.ctx.model, engine, Wal.read(sim.project, mid))


async def run_until_cut(
    sim: Sim,
    cut: Callable[[str, Json], bool],
    *,
    mission_id: str | None = None,
    config: MissionConfig | None = None,
    bound: float = BOUND,
) -> tuple[str, bool]:
    """Run (a new mission, or resume ``mission_id``) until ``cut(type, data)`` accepts a record.

    The engine is then stopped where it stands, as a crash would stop it: the
    WAL ends with that record (later writes never reach it), prompts already
    sent go on running in the simulator. Returns the mission id and whether the cut
    happened (``False``: the mission reached a final state first).
    """
    opened = (
        MissionEngine.create(
            sim.project,
            GOAL,
            sim.client,
            config=config,
            mission_id=mission_id,
            durability=Durability.NONE,
        )
        if mission_id is None or not mission_wal_dir(sim.project, mission_id).exists()
        else MissionEngine.resume(sim.project, mission_id, sim.client, durability=Durability.NONE)
    )
    async with opened as engine:
        tap = Tap()
        tap.attach(engine)
        with anyio.CancelScope() as crash:

            def crash_at(record_type: str, data: Json) -> None:
                if not crash.cancel_called and cut(record_type, data):
                    tap.freeze()
                    crash.cancel()

            tap.on(crash_at)
            with anyio.fail_after(bound):
                await engine.run()
    return engine.ctx.mission_id, crash.cancel_called


async def resume_mission(sim: Sim, mission_id: str, *, bound: float = BOUND) -> Run:
    """Resume ``mission_id`` and run it to a final state."""
    async with MissionEngine.resume(
        sim.project, mission_id, sim.client, durability=Durability.NONE
    ) as engine:
        with anyio.fail_after(bound):
            state = await engine.run()
    return Run(mission_id, state, engine.ctx.model, engine, Wal.read(sim.project, mission_id))


@dataclass(frozen=True, slots=True)
class Wal:
    """A mission's WAL records, read back from disk in order."""

    records: list[Record]

    @classmethod
    def read(cls, project: Path, mission_id: str) -> Wal:
        """The records of ``mission_id``'s WAL (read without the lock)."""
        return cls(inspect_log(mission_wal_dir(project, mission_id)).records)

    def of(self, record_type: RecordType, **match: Any) -> list[Json]:
        """The payloads of ``record_type`` whose data has ``match``'s values, in order."""
        return [
            r.data
            for r in self.records
            if r.type == record_type.value and all(r.data.get(k) == v for k, v in match.items())
        ]

    def index(self, record_type: RecordType, **match: Any) -> int:
        """Position of the first such record (``ValueError`` if there is none)."""
        for n, r in enumerate(self.records):
            if r.type == record_type.value and all(r.data.get(k) == v for k, v in match.items()):
                return n
        raise ValueError(f"no {record_type.value} record with {match}")

    def mission_states(self) -> list[str]:
        """The mission's states, in the order it entered them."""
        return [d["state"] for d in self.of(RecordType.MISSION_STATE)]

    def unit_states(self, unit: str) -> list[str]:
        """The states ``unit`` went through, in order."""
        return [d["state"] for d in self.of(RecordType.UNIT_STATE, unit=unit)]

    def intents(self, **match: Any) -> list[Json]:
        """``turn.intent`` payloads (``unit=``, ``kind=``, ``attempt=`` filter them)."""
        return self.of(RecordType.TURN_INTENT, **match)

    def kinds(self, unit: str, attempt: int | None = None) -> list[str]:
        """The kinds of ``unit``'s turns (of one ``attempt``), in the order they were sent."""
        match: Json = {"unit": unit} if attempt is None else {"unit": unit, "attempt": attempt}
        return [d["kind"] for d in self.intents(**match)]

    def ended(self) -> dict[str, Json]:
        """``turn.ended`` payloads by turn id."""
        return {d["turn"]: d for d in self.of(RecordType.TURN_ENDED)}

    def end_of(self, intent: Json) -> Json:
        """How the turn of ``intent`` ended."""
        return self.ended()[intent["turn"]]


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message: its info and its parts."""

    info: Json
    parts: list[Json]

    @property
    def id(self) -> str:
        """The message id."""
        return str(self.info["id"])

    @property
    def text(self) -> str:
        """The text of its text parts (a user message: the prompt)."""
        return "".join(p.get("text", "") for p in self.parts if p["type"] == "text")

    @property
    def final(self) -> bool:
        """An assistant message that answered (structured output) or ended in an error."""
        return self.info["role"] == "assistant" and (
            "structured" in self.info or "error" in self.info
        )


@dataclass(frozen=True, slots=True)
class SimRecord:
    """The simulator's store: every session and its transcript."""

    sessions: dict[str, Json]
    transcripts: dict[str, list[Message]] = field(default_factory=dict)

    @classmethod
    async def read(cls, state_dir: Path) -> SimRecord:
        """Read the store under ``state_dir`` (a second connection; the server may run)."""
        store = await SimStore.open(state_dir)
        try:
            sessions = {s["id"]: s for s in await store.sessions()}
            transcripts = {
                sid: [Message(m["info"], m["parts"]) for m in await store.messages(sid)]
                for sid in sessions
            }
        finally:
            await store.close()
        return cls(sessions, transcripts)

    def messages(self, session: str) -> list[Message]:
        """``session``'s transcript, oldest first."""
        return self.transcripts[session]

    def message(self, message_id: str) -> Message:
        """The message with id ``message_id``, in whatever session."""
        for transcript in self.transcripts.values():
            for message in transcript:
                if message.id == message_id:
                    return message
        raise KeyError(message_id)

    def answers(self, user_message: str) -> list[Message]:
        """The final assistant messages that answered ``user_message`` (once per turn run)."""
        return [
            m
            for transcript in self.transcripts.values()
            for m in transcript
            if m.final and m.info.get("parentID") == user_message
        ]

    def users(self, session: str) -> list[Message]:
        """The user messages of ``session`` (the prompts it was sent)."""
        return [m for m in self.messages(session) if m.info["role"] == "user"]

    def children(self, parent: str) -> list[Json]:
        """The sessions whose parent is ``parent``."""
        return [s for s in self.sessions.values() if s.get("parentID") == parent]


def only(items: Iterable[Json]) -> Json:
    """The one item of ``items`` (an assertion error otherwise)."""
    found = list(items)
    assert len(found) == 1, found
    return found[0]


def git(project: Path, *args: str) -> str:
    """``git -C project args…``; its output (a failure raises)."""
    done = subprocess.run(
        ["git", "-C", str(project), *args], check=True, capture_output=True, text=True
    )
    return done.stdout


def git_repository(project: Path, files: dict[str, str] | None = None) -> None:
    """Make ``project`` a git repository with one commit of ``files`` (racing needs one)."""
    git(project, "init", "-q")
    git(project, "config", "user.email", "test@localhost")
    git(project, "config", "user.name", "test")
    for name, text in (files or {"README.md": "project\n"}).items():
        (project / name).write_text(text)
    (project / ".gitignore").write_text(".opencode/\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "start")
