"""The mission core as a process of its own, for ``bench_mission.py``.

::

    mission_core.py run    --server URL --project DIR --mission ID --config JSON [--freeze-at N]
    mission_core.py resume --server URL --project DIR --mission ID

A separate process, so that its CPU time and RSS are the core's alone (the
simulator is a third process) and so that it can be killed with SIGKILL. The
journal is written with ``Durability.ALWAYS``, as in production; logging is
configured as the CLI's default (``warning``).

stdout carries one flushed JSON object per line:

``{"event": "opened", "wall": T, "cpu": S, "open_turns": N, ...}``
    the journal is open (and replayed, on resume), before ``run()`` starts
``{"event": "state", "state": S, "wall": T, "cpu": S}``
    a ``mission.state`` record is durable
``{"event": "frozen", "units": N, "open_turns": T, "turns_ended": E}``
    (``run --freeze-at N``) ``N`` units have a turn open in the journal, after
    at least ``--warmup`` turns ended: the process stops its event loop dead
    right after this line (a blocking sleep, so nothing more is journaled) and
    waits for the benchmark's SIGKILL
``{"event": "adopted", "wall": T, "cpu": S, "statuses": {STATUS: N}}``
    (``resume``) every turn that was open in the replayed journal has a
    ``turn.ended`` written by this process
``{"event": "final", "state": S, "wall": T, "cpu": S, ...}``
    ``run()`` returned

``opened`` and ``final`` also carry ``threads``: CPU seconds per kind of thread
(:func:`thread_cpu`), so the benchmark can say where the core's CPU went.

``cpu`` is this process's user + system CPU seconds (``getrusage``), ``wall``
is ``time.time()``. ``--profile FILE`` runs the whole process under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from opencode_orchestrator import runtime
from opencode_orchestrator.log import configure_logging, flush_logging
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.wal.log import Durability


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far of each kind of live thread (``/proc/self/task``), and the rest.

    The kinds: the event loop, the WAL's flusher, the log listener, anyio's
    worker threads; "ended" is what threads no longer alive used.
    """
    kinds: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICK
        if thread is threading.main_thread():
            kind = "event loop"
        elif thread.name.startswith("wal-flusher"):
            kind = "WAL flusher"
        elif thread.name.endswith("(_monitor)"):
            kind = "log listener"
        elif thread.name.startswith("AnyIO worker"):
            kind = "worker threads"
        else:
            kind = "other threads"
        kinds[kind] = kinds.get(kind, 0.0) + seconds
    kinds["ended"] = max(0.0, cpu_seconds() - sum(kinds.values()))
    return kinds


def say(event: str, **fields: Any) -> None:
    """One JSON line on stdout, flushed."""
    sys.stdout.write(orjson.dumps({"event": event, **fields}).decode() + "\n")
    sys.stdout.flush()


@dataclass
class _Probe:
    """What the benchmark wants to know from the journal, updated per durable record."""

    freeze_at: int | None = None
    warmup: int = 0
    adopting: set[str] | None = None
    adopted: dict[str, int] = field(default_factory=dict)
    turns_ended: int = 0


class _ObservedJournal(Journal):
    """The engine's own journal, reporting on stdout (the class of that object is swapped)."""

    probe = _Probe()

    async def write(
        self, record_type: RecordType, data: dict[str, Any], *, durable: bool = True
    ) -> None:
        await super().write(record_type, data, durable=durable)
        probe = self.probe
        if record_type is RecordType.MISSION_STATE:
            say("state", state=data["state"], wall=time.time(), cpu=cpu_seconds())
        elif record_type is RecordType.TURN_ENDED:
            probe.turns_ended += 1
            adopting = probe.adopting
            if adopting is not None and data["turn"] in adopting:
                adopting.discard(data["turn"])
                status = data["status"]
                probe.adopted[status] = probe.adopted.get(status, 0) + 1
                if not adopting:
                    say("adopted", wall=time.time(), cpu=cpu_seconds(), statuses=probe.adopted)
        if probe.freeze_at is not None and probe.turns_ended >= probe.warmup:
            units = {t.unit for t in self.model.turns.values() if t.unit is not None}
            if len(units) < probe.freeze_at:
                return
            say(
                "frozen",
                units=len(units),
                open_turns=len(self.model.turns),
                turns_ended=probe.turns_ended,
            )
            # Stop dead: no further record can be journaled until the SIGKILL arrives.
            time.sleep(3600)


async def _drive(args: argparse.Namespace) -> None:
    project = Path(args.project)
    async with OpenCodeClient(args.server, directory=str(project)) as client:
        if args.mode == "run":
            config = MissionConfig.model_validate_json(args.config)
            engine_cm = MissionEngine.create(
                project,
                args.goal,
                client,
                config=config,
                mission_id=args.mission,
                durability=Durability.ALWAYS,
            )
        else:
            engine_cm = MissionEngine.resume(
                project, args.mission, client, durability=Durability.ALWAYS
            )
        resume_called = time.time()
        async with engine_cm as engine:
            journal = engine.ctx.journal
            journal.__class__ = _ObservedJournal
            probe = _ObservedJournal.probe
            probe.freeze_at = args.freeze_at
            probe.warmup = args.warmup
            open_turns = list(journal.model.turns.values())
            if args.mode == "resume":
                probe.adopting = {t.id for t in open_turns}
            say(
                "opened",
                wall=time.time(),
                cpu=cpu_seconds(),
                called=resume_called,
                open_turns=len(open_turns),
                open_units=len({t.unit for t in open_turns if t.unit is not None}),
                accepted=sum(1 for t in open_turns if t.accepted),
                records=journal.wal.last_seq,
                threads=thread_cpu(),
            )
            state = await engine.run()
            model = engine.ctx.model
            say(
                "final",
                state=state.value,
                reason=model.reason,
                wall=time.time(),
                cpu=cpu_seconds(),
                units=model.counts(),
                maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                threads=thread_cpu(),
            )


def main() -> None:
    """Parse the arguments and run the core."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["run", "resume"])
    parser.add_argument("--server", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--mission", required=True)
    parser.add_argument("--goal", default="build the benchmark's project")
    parser.add_argument("--config", default="{}", help="MissionConfig as JSON (run only)")
    parser.add_argument("--freeze-at", type=int, default=None, help="units in flight to freeze at")
    parser.add_argument("--warmup", type=int, default=0, help="turns ended before a freeze")
    parser.add_argument("--profile", default=None, help="write cProfile stats to this file")
    args = parser.parse_args()
    say("started", wall=time.time(), cpu=cpu_seconds())
    configure_logging("warning")
    try:
        if args.profile is None:
            runtime.run(_drive, args)
        else:
            profile = cProfile.Profile()
            try:
                profile.runcall(runtime.run, _drive, args)
            finally:
                profile.dump_stats(args.profile)
    finally:
        flush_logging()


if __name__ == "__main__":
    main()
