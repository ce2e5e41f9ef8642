"""The mission crash campaign: the core SIGKILLed at seeded moments, resumed, sealed.

The simulator runs as its own process for the whole campaign. The core is
``mission_driver.py`` (``run``, then ``resume`` after every kill), killed with a
real SIGKILL once it has durably written a seeded number of records, or its
n-th turn intent or turn end, or right after replaying its journal. Kills stop
at :data:`KILLS`; the last resume runs its mission to the end (a mission that
seals before enough kills is followed by another). Then, with the simulator
stopped, its sqlite transcripts and the missions' WALs must show:

* every mission sealed, all of its units verified, no turn left open;
* every ``turn.intent`` delivered exactly once: its user message is in the
  simulator's transcript with exactly one text part (a re-sent message id would
  add a second), and every user message in the simulator is some intent's;
* no logical turn prompted twice: a worker turn is identified by (unit, attempt,
  kind, review round) and must be unique (so each attempt gets exactly one
  ``work`` prompt); a reviewer or planner turn may be asked again only after the
  earlier one ended without an answer;
* no turn and no state change for a unit after its ``verified`` record.

A core that exits with an error, or a mission that ends other than sealed,
stops the campaign; the audit of what was done so far is still reported.

The companion test kills the core once 10+ turns are accepted by the server
and not ended, resumes it (at once, or after the server finished every one of
them), and checks that the turns were adopted, not prompted again.

A turn that ended while the core was down, and whose final assistant message
the core never saw, cannot be read back (OpenCode 1.18 answers 400 to the
message list of a session holding a ``format`` prompt): it ends ``lost`` and
the same session is asked to restate its answer (a ``restate`` turn), so the
unit's work is not redone. ``MISSION_CRASH_LOG_LEVEL=info`` makes each core
log more to ``<tmp_path>/<mission>.log``. The campaign takes
about 60-90 s on 2 vCPUs (each core process starts in ~0.7 s); the companions
about 10 s each.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import PIPE
from typing import Any

import anyio
import orjson
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from opencode_orchestrator.mission.model import WORKER_KINDS, MissionModel
from opencode_orchestrator.mission.records import MISSION_REGISTRY, RecordType, TurnKind
from opencode_orchestrator.mission.states import MissionState, UnitState
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.opencode.models import SessionIdleEvent, SessionStatusEvent
from opencode_orchestrator.sim.state.store import DB_NAME
from opencode_orchestrator.wal import Record, WriteAheadLog, mission_wal_dir

pytestmark = [pytest.mark.anyio, pytest.mark.subprocess, pytest.mark.slow]

DRIVER = Path(__file__).with_name("mission_driver.py")
SEED = 20_261_124
KILLS = 100
UNITS = 50
LIFE_LIMIT = 120.0
"""Seconds one core process may take (a bound on a hang, not a timing assertion)."""
SIM_CONFIG: dict[str, Any] = {
    "retry_delay": 0.001,
    "latency": {"mean": 0.02, "jitter": 0.02},
    "planner": {"units": UNITS, "shape": "random", "edge_probability": 0.08},
    "reviewer": {"fail_rate": 0.15},
    "faults": {"rate_limit_rate": 0.03},
}
MISSION_CONFIG: dict[str, Any] = {
    # Review rounds and attempts high enough that a 15 % reviewer fail rate
    # cannot fail a unit (0.15 ** 8 per unit), so every mission can seal.
    "limits": {"max_attempts": 8},
    "timeouts": {"silence": 10.0},
}


# -- processes -------------------------------------------------------------------------


@asynccontextmanager
async def sim_server(tmp_path: Path, config: dict[str, Any], seed: int) -> AsyncIterator[str]:
    """A ``sim-server`` process for the block (its URL); stopped with SIGTERM after it."""
    config_file = tmp_path / "sim.json"
    config_file.write_bytes(orjson.dumps(config))
    command = [
        sys.executable,
        *("-m", "opencode_orchestrator", "sim-server", "--port", "0"),
        *("--state-dir", str(tmp_path / "sim-state"), "--seed", str(seed)),
        *("--config", str(config_file), "--directory", str(tmp_path)),
    ]
    with (tmp_path / "sim.log").open("ab") as log:
        process = await anyio.open_process(
            command, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        async with process:
            assert process.stdout is not None
            with anyio.fail_after(30):
                url = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 1024)
            try:
                yield url.decode().strip()
            finally:
                # A clean stop, so its sqlite database is closed before it is read.
                process.terminate()
                with anyio.fail_after(30, shield=True):
                    assert await process.wait() == 0


@dataclass(slots=True)
class Life:
    """What one core process said before it ended or was killed."""

    killed: bool = False
    returncode: int | None = None
    error: str = ""
    """The last line it wrote to stderr, when it exited with an error."""
    final: str | None = None
    opened_at: int | None = None
    """Records the journal held when this process opened it."""
    records: int = 0
    """Records this process announced as durable."""


_ERROR_LINE = re.compile(r"\w+(Error|Exception)\b: ")
KillRule = Callable[[str], bool]
"""Called with each stdout line of a core; ``True``: SIGKILL it now."""


async def core(
    mode: str,
    url: str,
    project: Path,
    mission: str,
    log_path: Path,
    kill: KillRule | None,
    config: dict[str, Any] | None = None,
) -> Life:
    """Run one core process to its end, or SIGKILL it when ``kill`` says so."""
    command = [sys.executable, str(DRIVER), mode, "--server", url]
    command += ["--project", str(project), "--mission", mission]
    command += ["--log-level", os.environ.get("MISSION_CRASH_LOG_LEVEL", "warning")]
    if mode == "run":
        command += [
            "--goal",
            f"build {mission}",
            "--config",
            orjson.dumps(config or MISSION_CONFIG).decode(),
        ]
    life = Life()
    with log_path.open("ab") as log:
        logged = log.tell()
        process = await anyio.open_process(command, stdout=PIPE, stderr=log)
        async with process:
            assert process.stdout is not None
            lines = BufferedByteReceiveStream(process.stdout)
            with anyio.fail_after(LIFE_LIMIT):
                while True:
                    try:
                        line = (await lines.receive_until(b"\n", 1 << 16)).decode()
                    except (anyio.EndOfStream, anyio.IncompleteRead):
                        break
                    word, _, rest = line.partition(" ")
                    if word == "opened":
                        life.opened_at = int(rest)
                    elif word == "rec":
                        life.records += 1
                    elif word == "final":
                        life.final = rest
                    if kill is not None and kill(line):
                        process.send_signal(signal.SIGKILL)
                        break
                life.returncode = await process.wait()
    # A process that exited on its own just before the signal was not killed.
    life.killed = life.returncode == -signal.SIGKILL
    if not life.killed and life.returncode != 0:
        with log_path.open("rb") as log:
            log.seek(logged)
            said = log.read().decode(errors="replace").strip().splitlines()
        errors = [line.strip() for line in said if _ERROR_LINE.search(line)]
        life.error = (errors or said or [""])[-1]
    return life


def kill_after(event: str, count: int) -> KillRule:
    """Kill on the ``count``-th line whose record type is ``event`` (``*``: any record).

    ``opened`` kills right after the journal is replayed, before ``run()`` starts.
    """
    seen = 0

    def rule(line: str) -> bool:
        nonlocal seen
        parts = line.split()
        if event == "opened":
            hit = parts[0] == "opened"
        else:
            hit = parts[0] == "rec" and event in ("*", parts[1])
        seen += hit
        return seen >= count

    return rule


def draw_kill(rng: random.Random) -> tuple[str, KillRule]:
    """A seeded kill moment, described by what the core has durably done."""
    roll = rng.random()
    if roll < 0.05:
        return "opened", kill_after("opened", 1)
    if roll < 0.35:
        n = rng.randint(1, 3)
        return f"intent#{n}", kill_after(RecordType.TURN_INTENT.value, n)
    if roll < 0.55:
        n = rng.randint(1, 3)
        return f"ended#{n}", kill_after(RecordType.TURN_ENDED.value, n)
    n = rng.randint(1, 24)
    return f"records#{n}", kill_after("*", n)


# -- evidence ----------------------------------------------------------------------------


@dataclass(slots=True)
class SimTranscripts:
    """The user messages the simulator stored: id -> (session, text parts)."""

    user_messages: dict[str, tuple[str, int]] = field(default_factory=dict)


def read_sim(state_dir: Path) -> SimTranscripts:
    """Read the stopped simulator's database directly."""
    db = sqlite3.connect(f"file:{state_dir / DB_NAME}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT m.id, m.session_id, "
            "(SELECT count(*) FROM parts p WHERE p.message_id = m.id) "
            "FROM messages m WHERE json_extract(m.body, '$.role') = 'user'"
        ).fetchall()
    finally:
        db.close()
    return SimTranscripts({mid: (sid, parts) for mid, sid, parts in rows})


async def read_wal(project: Path, mission: str) -> list[Record]:
    """Every record of a mission's journal, in order."""
    directory = mission_wal_dir(project, mission)
    async with await WriteAheadLog.open(directory, registry=MISSION_REGISTRY) as wal:
        assert wal.recovery.snapshot_seq == 0
        records = list(wal.recovery.records)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    return records


def replay(records: list[Record]) -> MissionModel:
    """The mission model the records rebuild."""
    model = MissionModel()
    for record in records:
        model.apply(record.type, record.data, record.ts)
    return model


@dataclass(slots=True)
class Audit:
    """What one mission's journal and the simulator's transcripts showed."""

    records: int = 0
    intents: int = 0
    attempts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    """Prompts delivered twice or never, turns prompted again, work after verified."""
    outcome: list[str] = field(default_factory=list)
    """How the mission ended, if not sealed with every unit verified."""


def audit_mission(records: list[Record], sim: SimTranscripts, units: int) -> Audit:
    """Check one mission against the campaign's invariants; collect every problem."""
    audit = Audit(records=len(records))
    violations = audit.violations
    model = MissionModel()
    verified: set[str] = set()
    by_key: dict[tuple[Any, ...], list[str]] = {}
    answered: dict[str, bool] = {}
    work_prompts: Counter[tuple[str, int]] = Counter()
    undelivered: dict[str, int] = {}
    for record in records:
        data = record.data
        if record.type == RecordType.TURN_INTENT:
            audit.intents += 1
            kind, turn, unit_id = TurnKind(data["kind"]), data["turn"], data["unit"]
            # A restatement repeats one turn's answer: it is keyed by what it restates.
            label: Any = f"restate:{data['restates']}" if kind is TurnKind.RESTATE else kind
            received = sim.user_messages.get(data["message"])
            if received is None:
                undelivered[turn] = record.seq  # a violation unless the turn is still open
            elif received != (data["session"], 1):
                violations.append(
                    f"[delivered {received[1]} times] seq {record.seq}: {kind} {turn} of {unit_id}"
                )
            if unit_id in verified:
                violations.append(f"[after verified] seq {record.seq}: {kind} turn for {unit_id}")
            if unit_id is None:
                key: tuple[Any, ...] = (None, model.iteration, label)
            else:
                unit = model.units[unit_id]
                key = (unit_id, data["attempt"], label, unit.rounds)
                if data["attempt"] != unit.attempt:
                    violations.append(
                        f"[wrong attempt] seq {record.seq}: {turn} of {data['attempt']}"
                    )
                if kind is TurnKind.WORK:
                    work_prompts[(unit_id, unit.attempt)] += 1
            earlier = by_key.setdefault(key, [])
            # A reviewer, planner or restatement is asked again when it gave no answer;
            # nothing else repeats.
            if earlier and (kind in WORKER_KINDS or answered[earlier[-1]]):
                violations.append(f"[prompted again] seq {record.seq}: {key} after {earlier}")
            earlier.append(turn)
        elif record.type == RecordType.TURN_ENDED:
            audit.statuses[data["status"]] += 1
            answered[data["turn"]] = data.get("answer") is not None
        elif record.type == RecordType.UNIT_STATE:
            moved: str = data["unit"]
            if moved in verified:
                violations.append(f"[after verified] seq {record.seq}: {moved} to {data['state']}")
            if data["state"] == UnitState.DISPATCHED.value:
                work_prompts[(moved, data["attempt"])] += 0
            elif data["state"] == UnitState.VERIFIED.value:
                verified.add(moved)
        model.apply(record.type, data, record.ts)

    sealed = model.state is MissionState.SEALED and model.sealed_evidence is not None
    for turn, seq in undelivered.items():
        if turn not in model.turns:  # ended, yet the server never saw it
            violations.append(f"[never delivered] seq {seq}: intent {turn}")
    audit.attempts = len(work_prompts)
    for attempt, count in sorted(work_prompts.items()):
        if count > 1 or (count == 0 and sealed):
            violations.append(f"[work prompts] attempt {attempt} got {count}")
    if not sealed:
        audit.outcome.append(f"mission ended {model.state}: {model.reason[:300]}")
    if len(model.units) != units:
        audit.outcome.append(f"{len(model.units)} units, expected {units}")
    unfinished = [u for u in model.units.values() if u.state is not UnitState.VERIFIED]
    if unfinished:
        states = Counter(str(u.state) for u in unfinished)
        worst = max(unfinished, key=lambda u: u.attempt)
        audit.outcome.append(
            f"units not verified: {dict(states)}; e.g. {worst.id} {worst.state} after "
            f"{worst.attempt} attempt(s): {worst.failures[-4:]}"
        )
    if model.turns:
        audit.outcome.append(f"turns left open: {sorted(model.turns)}")
    return audit


def format_report(violations: list[str], other: list[str], samples: int = 6) -> str:
    """Violations counted by ``[kind]`` with a few samples each, then everything else."""
    kinds: dict[str, list[str]] = {}
    for line in violations:
        kind = line[line.index("[") : line.index("]") + 1]
        kinds.setdefault(kind, []).append(line)
    lines = [f"{len(found)} x {kind}" for kind, found in kinds.items()]
    for found in kinds.values():
        lines += found[:samples]
    return "\n".join(lines + other)


def open_turns_at(records: list[Record], seq: int) -> list[dict[str, Any]]:
    """The turn intents not ended once the first ``seq`` records were written."""
    intents: dict[str, dict[str, Any]] = {}
    for record in records[:seq]:
        if record.type == RecordType.TURN_INTENT:
            intents[record.data["turn"]] = dict(record.data, accepted=False)
        elif record.type in (RecordType.TURN_ACCEPTED, RecordType.TURN_MESSAGE):
            intents[record.data["turn"]]["accepted"] = True
        elif record.type == RecordType.TURN_ENDED:
            del intents[record.data["turn"]]
    return list(intents.values())


# -- the campaign ------------------------------------------------------------------------


@dataclass(slots=True)
class MissionRun:
    """One mission of the campaign and the lives of its cores."""

    mission_id: str
    project: Path
    lives: list[Life] = field(default_factory=list)
    moments: Counter[str] = field(default_factory=Counter)


async def test_sigkill_campaign_every_mission_seals_and_nothing_is_prompted_twice(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()  # reported, never asserted
    missions: list[MissionRun] = []
    kills = 0
    stopped: list[str] = []
    async with sim_server(tmp_path, SIM_CONFIG, SEED) as url:
        while kills < KILLS and not stopped:
            number = len(missions) + 1
            run = MissionRun(f"crash{number:02d}", tmp_path / f"p{number}")
            run.project.mkdir()
            missions.append(run)
            log = tmp_path / f"{run.mission_id}.log"
            mode = "run"
            while True:
                moment, rule = draw_kill(rng) if kills < KILLS else ("end", None)
                life = await core(mode, url, run.project, run.mission_id, log, rule)
                run.lives.append(life)
                if not life.killed:
                    break
                kills += 1
                run.moments[moment.partition("#")[0]] += 1
                mode = "resume"
            if life.returncode != 0:
                stopped.append(
                    f"{run.mission_id}: core exited {life.returncode} after {kills} kill(s): "
                    f"{life.error}"
                )
            elif life.final != MissionState.SEALED.value:
                stopped.append(f"{run.mission_id}: ended {life.final} after {kills} kill(s)")
    elapsed = time.monotonic() - started
    sim = read_sim(tmp_path / "sim-state")

    summary: list[str] = []
    violations: list[str] = []
    outcomes: list[str] = []
    all_intents: set[str] = set()
    adopted = unaccepted = 0
    for run in missions:
        records = await read_wal(run.project, run.mission_id)
        audit = audit_mission(records, sim, UNITS)
        violations += [f"{run.mission_id}: {v}" for v in audit.violations]
        outcomes += [f"{run.mission_id}: {o}" for o in audit.outcome]
        all_intents |= {r.data["message"] for r in records if r.type == RecordType.TURN_INTENT}
        for life in run.lives[1:]:
            if life.opened_at is None:
                continue
            at_kill = open_turns_at(records, life.opened_at)
            adopted += len(at_kill)
            unaccepted += sum(not t["accepted"] for t in at_kill)
        summary.append(
            f"{run.mission_id}: {len(run.lives)} lives, {sum(lf.killed for lf in run.lives)} kills "
            f"{dict(run.moments)}, {audit.records} records "
            f"({sum(lf.records for lf in run.lives) / len(run.lives):.1f} a life), "
            f"{audit.intents} intents, "
            f"{audit.attempts} attempts, turn ends {dict(audit.statuses)}"
        )
    stray = set(sim.user_messages) - all_intents
    if stray:
        violations.append(f"[stray] user messages no intent accounts for: {sorted(stray)[:10]}")
    print(
        f"mission crash campaign (seed {SEED}): {kills} SIGKILLs, {len(missions)} mission(s), "
        f"{sum(len(r.lives) - 1 for r in missions)} resumes, {adopted} turns open at a kill "
        f"({unaccepted} not yet accepted), {len(sim.user_messages)} prompts, {elapsed:.1f} s"
    )
    print("\n".join(summary))
    assert not violations + stopped + outcomes, format_report(violations, stopped + outcomes)
    assert kills >= KILLS
    # Guard against a campaign that silently stopped exercising anything.
    assert adopted >= KILLS // 2
    assert unaccepted > 0


# -- the companion: a kill with many turns in flight ------------------------------------------

WIDE_UNITS = 14
WIDE_SIM: dict[str, Any] = {
    # Slow answers and independent units, so many turns are in flight at once.
    "latency": {"mean": 1.0, "jitter": 0.2},
    "planner": {"units": WIDE_UNITS, "shape": "random", "edge_probability": 0.0},
}
IN_FLIGHT = 10


def kill_when_in_flight(count: int) -> KillRule:
    """Kill once ``count`` turns are accepted by the server and not ended."""
    accepted: set[str] = set()

    def rule(line: str) -> bool:
        parts = line.split()
        if parts[0] == "rec" and parts[1] == RecordType.TURN_ACCEPTED.value:
            accepted.add(parts[2])
        elif parts[0] == "rec" and parts[1] == RecordType.TURN_ENDED.value:
            accepted.discard(parts[2])
        return len(accepted) >= count

    return rule


async def wait_until_server_idle(url: str, project: Path) -> None:
    """Until no session of ``project`` is busy on the server (woken by its events)."""
    async with OpenCodeClient(url, directory=str(project)) as client, client.events() as stream:
        with anyio.fail_after(60):
            await stream.subscribed()
            if not await client.session_status():
                return
            async for event in stream:
                if isinstance(event, SessionStatusEvent | SessionIdleEvent) and not (
                    await client.session_status()
                ):
                    return


@pytest.mark.parametrize(
    "resume_when",
    [
        "at-once",
        "server-done",
    ],
)
async def test_turns_in_flight_at_a_sigkill_are_adopted_not_prompted_again(
    tmp_path: Path, resume_when: str
) -> None:
    """``at-once``: resumed while the turns still run; ``server-done``: after they all ended."""
    config = dict(MISSION_CONFIG, limits={"concurrency": 32, "max_attempts": 8})
    project = tmp_path / "project"
    project.mkdir()
    mission = "inflight"
    async with sim_server(tmp_path, WIDE_SIM, SEED) as url:
        log = tmp_path / "core.log"
        first = await core(
            "run", url, project, mission, log, kill_when_in_flight(IN_FLIGHT), config
        )
        assert first.killed, first
        if resume_when == "server-done":
            await wait_until_server_idle(url, project)
        second = await core("resume", url, project, mission, log, None)
    assert second.final == MissionState.SEALED.value, second
    assert second.opened_at is not None
    sim = read_sim(tmp_path / "sim-state")
    records = await read_wal(project, mission)

    in_flight = open_turns_at(records, second.opened_at)
    # The kill came once IN_FLIGHT turns were accepted by the server. A turn's
    # acceptance is journaled without waiting for the disk (its intent was
    # durable before the prompt went out), so the last ones may be lost with
    # the kill: those turns are open in the journal all the same.
    assert len(in_flight) >= IN_FLIGHT
    for turn in in_flight:
        # Each was received once, and the resumed core wrote no new intent for it.
        assert sim.user_messages.get(turn["message"]) == (turn["session"], 1), turn
    audit = audit_mission(records, sim, WIDE_UNITS)
    assert not audit.violations + audit.outcome, format_report(audit.violations, audit.outcome)
    assert set(sim.user_messages) == {
        r.data["message"] for r in records if r.type == RecordType.TURN_INTENT
    }
    if resume_when == "server-done":
        # Every adopted turn had ended with an answer on the server. One whose
        # answer is out of reach (its final assistant message was never seen,
        # and OpenCode 1.18 cannot list a format session's messages) must be
        # restated in the same session -- never redone as a fresh attempt.
        ends = {r.data["turn"]: r.data for r in records if r.type == RecordType.TURN_ENDED}
        intents = [r.data for r in records if r.type == RecordType.TURN_INTENT]
        unanswered = []
        for t in in_flight:
            end = ends[t["turn"]]
            if end["status"] == "completed" and end["answer"] is not None:
                continue
            restated = [
                i
                for i in intents
                if i["kind"] == "restate"
                and i["session"] == t["session"]
                and i.get("restates") == t["kind"]
                and ends.get(i["turn"], {}).get("answer") is not None
            ]
            if end["status"] != "lost" or not restated:
                unanswered.append((t["kind"], end["status"]))
        assert not unanswered, f"{len(unanswered)} of {len(in_flight)}: {unanswered}"
