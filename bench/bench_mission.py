"""Benchmark of the mission engine over the simulator (the issue's scale targets).

Run: ``.venv/bin/python bench/bench_mission.py [--quick] [--units N] [--big N]``
(``--quick`` or ``BENCH_QUICK=1``: 200 units, 1,000 for the RSS and crash runs;
``BENCH_QUICK=1 ./dev bench`` leaves the other benchmarks' arguments alone).

Three processes: this one (the harness), the simulator (``sim-server``) and
the mission core (``bench/mission_core.py``: the real ``MissionEngine`` with a
``Durability.ALWAYS`` journal), so the core's CPU time and RSS, read from
``/proc``, are the core's alone, and the core can be SIGKILLed. The CPU the
whole machine spent meanwhile is read from ``/proc/stat``, so load from other
processes (the machine is shared) shows in the figures.

Every simulated turn thinks ``U(50 ms, 150 ms)`` (``latency: mean 0.1, jitter
0.05, step 0``: the simulator draws ``mean + U(-1, 1) * jitter``); the planner
answers a seeded random DAG (``shape: random``: each earlier unit is a
dependency with probability ``--degree / units``, so a unit has ``--degree / 2``
dependencies on average); reviewers never fail, so every unit is exactly one
worker turn and one final review turn, plus a shadow review turn when shadow
review is on. The figures:

1. ``--units`` units at concurrency 50, shadow review off and on: the makespan
   of the RUNNING phase (from the journaled ``running`` state to ``barrier``)
   against the ideal ``max(critical path, total work / 50)``, computed twice:
   from the *realised* latency of every turn (the simulator's transcript: from
   the turn's user message to its last assistant message's completion, ms
   resolution) and from the distribution's expectation (100 ms a turn). In the
   critical path a unit takes its worker turn, then its final review; with
   shadow review the final review waits for the shadow review, which starts
   when the worker's first file is written (``max(worker, first file +
   shadow) + review``). Also the makespan the same turns would take under the
   engine's own policy with no overhead at all (``list_schedule.py``): no
   scheduler of whole turns on 50 slots reaches the ideal, and this says how
   much of the gap is the DAG's. And the core's CPU seconds from the journal's
   creation to the final state (planning and master review included) per unit.
2. ``--big`` units (shadow review off, to keep the run short: the core's CPU
   makes it last minutes), as in 1, and the core's RSS sampled every 0.5 s:
   peak, and the medians of the first and last tenths of the run's second half.
3. Crash and resume: a ``--units`` mission (at least 1,000: a narrower DAG is
   seldom 50 units wide) at concurrency 64 is frozen once 56 units have a turn
   open in its journal (after a quarter as many turns as units ended: past the
   ramp-up), then SIGKILLed, and the journal holds 50 or more; a new core
   process resumes it. *Adopted* means:
   the resumed core has journaled ``turn.ended`` for every turn that was open
   in the journal at the kill (read back, followed to its end, or sent again
   if it never arrived). The time is counted from the ``MissionEngine.resume``
   call (the interpreter and imports already up) and from the resumed
   process's spawn.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import orjson
import structlog
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from list_schedule import UnitTurns, list_schedule
from opencode_orchestrator import runtime
from opencode_orchestrator.mission.contracts import UnitSpec
from opencode_orchestrator.mission.engine import new_mission_id
from opencode_orchestrator.mission.plan import critical_path
from opencode_orchestrator.mission.records import MISSION_REGISTRY, RecordType
from opencode_orchestrator.sim.state.store import DB_NAME
from opencode_orchestrator.wal import Record, WriteAheadLog, mission_wal_dir

CORE = Path(__file__).with_name("mission_core.py")
CONCURRENCY = 50
CRASH_CONCURRENCY = 64
"""Of the crash run: at 50, 50 units are seldom in flight at once (slots change hands)."""
IN_FLIGHT = 50
FREEZE_MARGIN = 6
"""The core freezes at 56 units with a turn open: while its loop stands still, appends
already handed to the WAL's flusher thread (turns ending) still become durable."""
TURN_MEAN = 0.100
"""Expected simulated latency of a turn (s): U(50 ms, 150 ms)."""
SAMPLE_EVERY = 0.5
SIM_PREFIX: list[str] = []
"""Arguments between the interpreter and ``-m opencode_orchestrator`` (``--profile-sim``)."""
CORE_PREFIX: list[str] = []
"""Arguments between the interpreter and the core's script (a wrapper, for experiments)."""
CORE_EXTRA: list[str] = []
"""Arguments added to every core command line (``--profile-core``)."""
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_stats(pid: int) -> tuple[int, float]:
    """RSS in bytes and CPU seconds (user + system) of a process, from /proc."""
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    return rss_pages * _PAGE, cpu


def machine_busy() -> float:
    """CPU seconds every CPU of the machine spent busy so far (user, nice, system, irqs)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / _TICKS


# -- processes --------------------------------------------------------------------------


@dataclass
class Sim:
    """A running ``sim-server``."""

    url: str
    pid: int
    project: Path
    state_dir: Path


@contextlib.asynccontextmanager
async def sim_process(root: Path, config: dict[str, Any]) -> AsyncIterator[Sim]:
    """A ``sim-server`` process serving ``root/project`` with ``config``; its log in ``root``."""
    project = root / "project"
    project.mkdir()
    path = root / "sim.json"
    path.write_bytes(orjson.dumps(config))
    state_dir = root / "state"
    command = [
        sys.executable,
        *SIM_PREFIX,
        *("-m", "opencode_orchestrator", "sim-server"),
        *("--state-dir", str(state_dir), "--config", str(path)),
        *("--directory", str(project), "--seed", str(config["seed"])),
    ]
    with (root / "sim.log").open("wb") as log:
        async with await anyio.open_process(command, stderr=log) as process:
            assert process.stdout is not None
            with anyio.fail_after(30):
                line = b""
                while not line.endswith(b"\n"):
                    line += await process.stdout.receive(1)
            try:
                yield Sim(line.decode().strip(), process.pid, project, state_dir)
            finally:
                process.terminate()
                with anyio.fail_after(30):
                    await process.wait()


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of the machine, every :data:`SAMPLE_EVERY` seconds."""

    wall: float
    rss: int
    """The core's RSS (bytes)."""
    core_cpu: float
    sim_cpu: float
    machine_cpu: float
    """Busy CPU seconds of the whole machine (every process)."""


@dataclass
class CoreRun:
    """What one core process said, and how the machine was used meanwhile."""

    events: list[dict[str, Any]] = field(default_factory=list)
    spawned: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    returncode: int | None = None

    log: Path | None = None
    """The core's stderr."""

    def event(self, name: str) -> dict[str, Any]:
        """The first event called ``name``.

        Raises:
            RuntimeError: the core never said it (with the tail of its log).
        """
        for event in self.events:
            if event["event"] == name:
                return event
        tail = ""
        if self.log is not None and self.log.exists():
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(
            f"the core never reported {name!r} (exit {self.returncode}); its log ends:\n{tail}"
        )

    def states(self) -> dict[str, dict[str, Any]]:
        """The ``state`` events by mission state (the first of each)."""
        states: dict[str, dict[str, Any]] = {}
        for event in self.events:
            if event["event"] == "state":
                states.setdefault(event["state"], event)
        return states


async def run_core(
    sim: Sim,
    log: Path,
    mode: str,
    mission: str,
    *extra: str,
    on_event: Callable[[dict[str, Any], Process], None] | None = None,
    limit: float = 1800.0,
) -> CoreRun:
    """Run ``mission_core.py MODE`` to its end, sampling the machine while it runs."""
    command = [
        sys.executable,
        *CORE_PREFIX,
        str(CORE),
        mode,
        *("--server", sim.url, "--project", str(sim.project), "--mission", mission),
        *extra,
        *CORE_EXTRA,
    ]
    run = CoreRun(spawned=time.time(), log=log)
    with log.open("ab") as stderr:
        await _follow(run, sim, command, stderr, on_event, limit)
    return run


async def _follow(
    run: CoreRun,
    sim: Sim,
    command: list[str],
    stderr: IO[bytes],
    on_event: Callable[[dict[str, Any], Process], None] | None,
    limit: float,
) -> None:
    async with await anyio.open_process(command, stderr=stderr) as process:
        assert process.stdout is not None
        stdout = process.stdout

        async def sample() -> None:
            while True:
                try:
                    rss, cpu = proc_stats(process.pid)
                    _, sim_cpu = proc_stats(sim.pid)
                except (OSError, IndexError, ValueError):
                    return  # the core has exited
                run.samples.append(Sample(time.time(), rss, cpu, sim_cpu, machine_busy()))
                await anyio.sleep(SAMPLE_EVERY)

        async def read() -> None:
            buffer = ""
            async for chunk in TextReceiveStream(stdout):
                buffer += chunk
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    event = orjson.loads(line)
                    run.events.append(event)
                    if on_event is not None:
                        on_event(event, process)

        with anyio.fail_after(limit):
            async with anyio.create_task_group() as tg:
                tg.start_soon(sample)
                await read()
                run.returncode = await process.wait()
                tg.cancel_scope.cancel()


# -- what happened: the journal and the transcripts ---------------------------------------


async def read_wal(project: Path, mission: str) -> list[Record]:
    """Every record of the mission's journal (once no core has it open)."""
    async with await WriteAheadLog.open(
        mission_wal_dir(project, mission), registry=MISSION_REGISTRY
    ) as wal:
        return list(wal.recovery.records)


@dataclass(frozen=True, slots=True)
class SimTurn:
    """One turn as the simulator's transcript shows it (ms since the epoch)."""

    created: int
    first_done: int
    """The first assistant message's completion: after a worker's file writes."""
    completed: int

    @property
    def seconds(self) -> float:
        """From the user message to the turn's last answer."""
        return (self.completed - self.created) / 1000


def read_transcripts(state_dir: Path) -> dict[str, SimTurn]:
    """Every answered turn in the simulator's sqlite store, by user message id (= turn id)."""
    db = sqlite3.connect(f"file:{state_dir / DB_NAME}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT id, json_extract(body, '$.role'), json_extract(body, '$.parentID'), "
            "json_extract(body, '$.time.created'), json_extract(body, '$.time.completed') "
            "FROM messages"
        ).fetchall()
    finally:
        db.close()
    created: dict[str, int] = {}
    answers: dict[str, list[int]] = {}
    for mid, role, parent, at, done in rows:
        if role == "user":
            created[mid] = at
        elif parent is not None and done is not None:
            answers.setdefault(parent, []).append(done)
    return {
        mid: SimTurn(at, min(answers[mid]), max(answers[mid]))
        for mid, at in created.items()
        if mid in answers
    }


@dataclass(frozen=True, slots=True)
class Ideal:
    """The terms of the ideal makespan (s)."""

    critical_path: float
    work: float
    depth: int
    turns: int
    scheduled: float
    """The makespan of the same turns under the engine's policy with no overhead at all."""

    @property
    def bound(self) -> float:
        """``max(critical path, total work / concurrency)``."""
        return max(self.critical_path, self.work / CONCURRENCY)


def ideal(records: list[Record], transcripts: dict[str, SimTurn] | None) -> Ideal:
    """The ideal makespan of the unit turns: realised latencies, or (``None``) expectations."""
    specs: list[UnitSpec] = []
    turns: dict[str, list[tuple[str, str]]] = {}
    for record in records:
        if record.type == RecordType.PLAN_ACCEPTED:
            specs = [UnitSpec.model_validate(unit) for unit in record.data["units"]]
        elif record.type == RecordType.TURN_INTENT and record.data["unit"] is not None:
            turns.setdefault(record.data["unit"], []).append(
                (record.data["kind"], record.data["turn"])
            )
    deps = {spec.id: list(spec.depends_on) for spec in specs}

    def seconds(turn: str) -> float:
        return TURN_MEAN if transcripts is None else transcripts[turn].seconds

    work = 0.0
    units: dict[str, UnitTurns] = {}
    for uid, unit_turns in turns.items():
        by_kind: dict[str, float] = {}
        first_file: float | None = None
        for kind, turn in unit_turns:
            spent = seconds(turn)
            work += spent
            by_kind[kind] = by_kind.get(kind, 0.0) + spent
            if kind == "work" and transcripts is not None:
                first_file = (transcripts[turn].first_done - transcripts[turn].created) / 1000
        units[uid] = UnitTurns(
            worker=sum(v for k, v in by_kind.items() if k not in ("review", "shadow_review")),
            review=by_kind.get("review", 0.0),
            shadow=by_kind.get("shadow_review"),
            first_file=first_file,
        )
    finish: dict[str, float] = {}
    depth: dict[str, int] = {}
    for uid, before in deps.items():  # a plan lists dependencies first
        unit = units.get(uid)
        latency = 0.0
        if unit is not None:
            after_shadow = 0.0
            if unit.shadow is not None:
                start = unit.worker if unit.first_file is None else unit.first_file
                after_shadow = start + unit.shadow
            latency = max(unit.worker, after_shadow) + unit.review
        finish[uid] = latency + max((finish[d] for d in before), default=0.0)
        depth[uid] = 1 + max((depth[d] for d in before), default=0)
    ranks = {uid: float(rank) for uid, rank in critical_path(specs).items()}
    return Ideal(
        critical_path=max(finish.values()),
        work=work,
        depth=max(depth.values()),
        turns=sum(len(t) for t in turns.values()),
        scheduled=list_schedule(units, deps, ranks, CONCURRENCY),
    )


def sim_config(units: int, degree: float, seed: int) -> dict[str, Any]:
    """The simulator's settings: U(50, 150) ms turns, a random DAG, reviewers that pass."""
    return {
        "seed": seed,
        "latency": {"mean": TURN_MEAN, "jitter": 0.05, "step": 0.0},
        "planner": {
            "units": units,
            "shape": "random",
            "files_per_unit": 1,
            "edge_probability": min(1.0, degree / units),
        },
        "reviewer": {"fail_rate": 0.0},
    }


def mission_config(units: int, *, shadow: bool, concurrency: int = CONCURRENCY) -> str:
    """The core's MissionConfig as JSON."""
    limits = {"concurrency": concurrency, "max_units": units}
    return orjson.dumps({"limits": limits, "shadow_review": shadow}).decode()


# -- figures 1 and 2 ------------------------------------------------------------------------


@dataclass
class MissionResult:
    """One mission run to its end."""

    units: int
    shadow: bool
    state: str
    counts: dict[str, int]
    makespan: float
    total: float
    realised: Ideal
    expected: Ideal
    core_cpu: float
    threads: dict[str, float]
    """The core's CPU seconds by kind of thread, opening to final state."""
    shares: dict[str, float]
    """Share of one CPU while RUNNING: core, simulator, everything else on the machine."""
    samples: list[Sample]


def _shares(samples: list[Sample], start: float, end: float) -> dict[str, float]:
    inside = [s for s in samples if start <= s.wall <= end]
    if len(inside) < 2:
        return {}
    first, last = inside[0], inside[-1]
    span = last.wall - first.wall
    core = (last.core_cpu - first.core_cpu) / span
    sim = (last.sim_cpu - first.sim_cpu) / span
    machine = (last.machine_cpu - first.machine_cpu) / span
    return {"core": core, "simulator": sim, "other": max(0.0, machine - core - sim)}


async def bench_mission(
    root: Path, units: int, *, shadow: bool, degree: float, seed: int
) -> MissionResult:
    """One mission to its end; the makespan against the ideal."""
    async with sim_process(root, sim_config(units, degree, seed)) as sim:
        mission = new_mission_id()
        config = mission_config(units, shadow=shadow)
        run = await run_core(sim, root / "core.log", "run", mission, "--config", config)
        transcripts = read_transcripts(sim.state_dir)
        records = await read_wal(sim.project, mission)
    final, opened, states = run.event("final"), run.event("opened"), run.states()
    start, end = states["running"]["wall"], states["barrier"]["wall"]
    return MissionResult(
        units=units,
        shadow=shadow,
        state=final["state"],
        counts=final["units"],
        makespan=end - start,
        total=final["wall"] - opened["wall"],
        realised=ideal(records, transcripts),
        expected=ideal(records, None),
        core_cpu=final["cpu"] - opened["cpu"],
        threads={
            kind: seconds - opened["threads"].get(kind, 0.0)
            for kind, seconds in final["threads"].items()
        },
        shares=_shares(run.samples, start, end),
        samples=run.samples,
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report_mission(result: MissionResult) -> None:
    """Print figure 1 for one run."""
    r = result.realised
    label = f"{result.units:,} units, shadow review {'on' if result.shadow else 'off'}"
    print(f"-- {label}: mission {result.state} {result.counts}")
    print(
        f"   {r.turns:,} unit turns, DAG depth {r.depth}; makespan (running → barrier) "
        f"{result.makespan:.2f} s, whole mission {result.total:.2f} s"
    )
    for name, bound in (("realised", r), ("expected", result.expected)):
        ratio = result.makespan / bound.bound
        print(
            f"   ideal from {name} latencies: critical path {bound.critical_path:.2f} s, work "
            f"{bound.work:,.1f} s / {CONCURRENCY} = {bound.work / CONCURRENCY:.2f} s → "
            f"makespan / {bound.bound:.2f} s = {ratio:.2f} (target ≤ 1.05: "
            f"{_verdict(ratio <= 1.05)})"
        )
    print(
        f"   the same turns scheduled with no overhead (list_schedule.py): {r.scheduled:.2f} s "
        f"= {r.scheduled / r.bound:.2f}x the ideal; the engine's makespan is "
        f"{result.makespan / r.scheduled:.2f}x that"
    )
    per_unit = result.core_cpu / result.units * 1000
    shares = ", ".join(f"{k} {v:.0%}" for k, v in result.shares.items())
    print(
        f"   core CPU {result.core_cpu:.1f} s = {per_unit:.1f} ms/unit "
        f"(target ≤ 2 ms: {_verdict(per_unit <= 2)}); while running, of one CPU: {shares}"
    )
    by_thread = ", ".join(
        f"{kind} {seconds / result.units * 1000:.2f}"
        for kind, seconds in sorted(result.threads.items(), key=lambda kv: -kv[1])
        if seconds > 0
    )
    print(f"   core CPU by thread, ms/unit: {by_thread}")


def report_rss(result: MissionResult) -> None:
    """Print figure 2: the core's RSS over the run."""
    samples = [s for s in result.samples if s.rss > 0]
    rss = [s.rss / 2**20 for s in samples]
    peak = max(rss)
    half = rss[len(rss) // 2 :]
    tenth = max(1, len(half) // 10)
    early, late = statistics.median(half[:tenth]), statistics.median(half[-tenth:])
    print(
        f"   core RSS: peak {peak:.0f} MiB (target ≤ 150: {_verdict(peak <= 150)}); "
        f"second half {early:.1f} → {late:.1f} MiB ({late - early:+.1f} MiB)"
    )
    step = max(1, len(samples) // 12)
    t0 = samples[0].wall
    series = ", ".join(f"{s.wall - t0:.0f} s {s.rss / 2**20:.0f}" for s in samples[::step])
    print(f"   RSS over time (MiB): {series}")


# -- figure 3 --------------------------------------------------------------------------------


@dataclass
class ResumeResult:
    """Figure 3."""

    units_in_flight: int
    open_turns: int
    accepted: int
    statuses: dict[str, int]
    replayed_after: float
    adopted_after: float
    adopted_after_spawn: float
    state: str
    counts: dict[str, int]


async def bench_resume(root: Path, units: int, *, degree: float, seed: int) -> ResumeResult:
    """Freeze a core with 50 units in flight, SIGKILL it, resume; time the adoption."""
    async with sim_process(root, sim_config(units, degree, seed)) as sim:
        mission = new_mission_id()

        def kill_when_frozen(event: dict[str, Any], process: Process) -> None:
            if event["event"] == "frozen":
                process.kill()  # SIGKILL

        config = mission_config(units, shadow=True, concurrency=CRASH_CONCURRENCY)
        first = await run_core(
            sim,
            root / "core.log",
            "run",
            mission,
            *("--config", config, "--freeze-at", str(IN_FLIGHT + FREEZE_MARGIN)),
            *("--warmup", str(units // 4)),  # past the ramp-up, in full flow
            on_event=kill_when_frozen,
        )
        if first.returncode != -9:
            raise RuntimeError(
                f"the mission never had {IN_FLIGHT} units in flight (exit {first.returncode})"
            )
        second = await run_core(sim, root / "core.log", "resume", mission)
    opened, adopted, final = second.event("opened"), second.event("adopted"), second.event("final")
    return ResumeResult(
        units_in_flight=opened["open_units"],
        open_turns=opened["open_turns"],
        accepted=opened["accepted"],
        statuses=adopted["statuses"],
        replayed_after=opened["wall"] - opened["called"],
        adopted_after=adopted["wall"] - opened["called"],
        adopted_after_spawn=adopted["wall"] - second.spawned,
        state=final["state"],
        counts=final["units"],
    )


def report_resume(result: ResumeResult) -> None:
    """Print figure 3."""
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(result.statuses.items()))
    enough = "" if result.units_in_flight >= IN_FLIGHT else f" (fewer than {IN_FLIGHT}!)"
    print(
        f"-- crash at concurrency {CRASH_CONCURRENCY}: SIGKILL; the journal then held "
        f"{result.open_turns} open turns of {result.units_in_flight} units{enough} "
        f"({result.accepted} of the turns accepted)"
    )
    print(
        f"   resume: journal replayed in {result.replayed_after * 1000:.0f} ms; all "
        f"{result.open_turns} turns adopted {result.adopted_after * 1000:.0f} ms after "
        f"MissionEngine.resume (target ≤ 1 s: {_verdict(result.adopted_after <= 1.0)}), "
        f"{result.adopted_after_spawn * 1000:.0f} ms after the process was spawned"
    )
    print(f"   adopted turns ended: {statuses}; mission then {result.state} {result.counts}")


async def main(args: argparse.Namespace) -> None:
    loop = "uvloop" if runtime.USE_UVLOOP else runtime.BACKEND
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {loop}; "
        f"load average {' '.join(load)} at the start"
    )
    print(
        f"turns U(50, 150) ms; random DAG, mean {args.degree / 2:g} dependencies a unit; "
        f"concurrency {CONCURRENCY}; journal durability always"
    )

    def workdir() -> tempfile.TemporaryDirectory[str]:
        return tempfile.TemporaryDirectory(prefix="bench-mission-", dir=args.dir)

    if args.only in (None, "makespan"):
        for shadow in (False, True):
            with workdir() as tmp:
                result = await bench_mission(
                    Path(tmp), args.units, shadow=shadow, degree=args.degree, seed=args.seed
                )
            report_mission(result)
    if args.only in (None, "rss"):
        with workdir() as tmp:
            big = await bench_mission(
                Path(tmp), args.big, shadow=False, degree=args.degree, seed=args.seed
            )
        report_mission(big)
        report_rss(big)
    if args.only in (None, "resume"):
        with workdir() as tmp:
            resumed = await bench_resume(
                Path(tmp), args.crash_units, degree=args.degree, seed=args.seed
            )
        report_resume(resumed)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="200 units, 1,000 for the RSS and crash runs"
    )
    parser.add_argument("--units", type=int, default=1000, help="units of runs 1 and 3")
    parser.add_argument("--big", type=int, default=10_000, help="units of the RSS run")
    parser.add_argument("--degree", type=float, default=5.0, help="2 x mean dependencies a unit")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default=None, help="where projects and state go (default /tmp)")
    parser.add_argument("--only", choices=["makespan", "rss", "resume"], help="one figure only")
    parser.add_argument("--profile-core", metavar="FILE", help="cProfile the core into FILE")
    parser.add_argument("--profile-sim", metavar="FILE", help="cProfile the simulator into FILE")
    args, _ = parser.parse_known_args()  # `./dev bench ARGS` passes ARGS to every bench
    if args.quick or os.environ.get("BENCH_QUICK"):
        args.units, args.big = 200, 1000
    # Under 1,000 units a random DAG of this degree is seldom 50 units wide.
    args.crash_units = max(args.units, 1000)
    if args.profile_core:
        CORE_EXTRA.extend(["--profile", args.profile_core])
    if args.profile_sim:
        SIM_PREFIX.extend(["-m", "cProfile", "-o", args.profile_sim])
    return args


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    runtime.run(main, _args())
