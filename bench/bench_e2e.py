"""Overhead in real OpenCode: an 8-unit mission with the fake LLM answering instantly.

Run: ``.venv/bin/python bench/bench_e2e.py [--runs N] [--quick]`` (``--quick`` or
``BENCH_QUICK=1``: one run instead of three). Needs the ``opencode`` binary
that ``./dev test`` installs in ``tools/opencode``.

Each run is a fresh world of the end-to-end tests
(:func:`~opencode_orchestrator.testing.shim_e2e.shim_world`): a real
``opencode serve`` 1.18.33 in a temporary git project with isolated state,
the plugin installed by ``opencode-orchestrator install --project``, the
scenario fake LLM on 127.0.0.1 answering every call at once. The mission is
started as a user starts it, ``/extreme-mission <goal>`` in a session of
its own, and runs to SEALED. Its plan: a base unit, six units that depend
on it and run in parallel, and a top unit after all six; each worker writes
its file with OpenCode's ``write`` tool and runs its check with ``bash``;
every unit gets a shadow and a final review, then the master reviews the
whole. Nothing fails: 26 turns, three a unit, the plan and the master's.

Printed per run and as the median of the runs:

* wall time from the ``/extreme-mission`` request to the WAL's ``sealed``
  record (its timestamp, so polling adds nothing);
* the core's CPU seconds (``/proc/<core>/stat`` utime + stime, read at the
  seal, before anything stops) spent between the command and the seal, per
  unit, and since the core's start (imports and start-up included);
* OpenCode's own CPU seconds over the same span (its process only: the tools'
  shells and the core are children it does not count until they are reaped);
* how many requests the fake LLM answered, and how many events OpenCode's
  ``GET /event`` stream carried meanwhile (the core follows the same stream).

The CPU figures are the processes' own, so other load on the shared machine
lengthens the wall time but not them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio

from opencode_orchestrator.testing.scenario import FileWrite, PlanScript, Scenario, UnitScript
from opencode_orchestrator.testing.shim_e2e import (
    MISSION_DEADLINE,
    final_state,
    proc_cpu_seconds,
    shim_world,
)

UNITS: Final = 8
MIDDLE: Final = UNITS - 2


def _imports(module: str) -> str:
    return f"python3 -B -c 'import pkg.{module}'"


def eight_units() -> Scenario:
    """base -> m1..m6 (in parallel) -> top; the mission check adds them up."""
    base = UnitScript(
        id="base",
        title="Base module",
        files=["pkg/__init__.py", "pkg/base.py"],
        checks=[_imports("base")],
        writes=[
            FileWrite(path="pkg/__init__.py", content='"""The benchmark package."""\n'),
            FileWrite(path="pkg/base.py", content="BASE = 1\n"),
        ],
    )
    middle = [
        UnitScript(
            id=f"m{i}",
            title=f"Module {i}",
            files=[f"pkg/m{i}.py"],
            depends_on=["base"],
            checks=[_imports(f"m{i}")],
            writes=[
                FileWrite(
                    path=f"pkg/m{i}.py",
                    content=f"from pkg.base import BASE\n\nVALUE = BASE + {i}\n",
                )
            ],
        )
        for i in range(1, MIDDLE + 1)
    ]
    imports = "".join(f"from pkg import m{i}\n" for i in range(1, MIDDLE + 1))
    total = " + ".join(f"m{i}.VALUE" for i in range(1, MIDDLE + 1))
    top = UnitScript(
        id="top",
        title="Top module",
        files=["pkg/top.py"],
        depends_on=[u.id for u in middle],
        checks=[_imports("top")],
        writes=[
            FileWrite(
                path="pkg/top.py", content=f"{imports}\n\ndef total() -> int:\n    return {total}\n"
            )
        ],
    )
    expected = sum(1 + i for i in range(1, MIDDLE + 1))
    check = f"python3 -B -c 'import pkg.top, sys; sys.exit(pkg.top.total() != {expected})'"
    plan = PlanScript(
        summary="base, six modules in parallel, then top",
        units=[base, *middle, top],
        checks=[check],
    )
    return Scenario(goal="Build the pkg package: base, six modules, top.", plans=[plan])


@dataclass(frozen=True, slots=True)
class Run:
    """The figures of one mission."""

    wall: float
    core_cpu: float
    """Core CPU seconds from the command to the seal."""
    core_total: float
    """Core CPU seconds since it started."""
    opencode_cpu: float
    requests: int
    events: int


async def one_run(root: Path) -> Run:
    """A fresh world, one mission to its seal, the figures read before anything stops."""
    scenario = eight_units()
    async with shim_world(root / "project", scenario) as world:
        session = await world.new_session()
        async with world.deadline(60, "the core"):
            core = await world.wait_for_core()
        core_before = proc_cpu_seconds(core)
        opencode_before = proc_cpu_seconds(world.opencode.pid)
        events_before = len(world.events)
        started = time.time()
        reply = await world.command(session, "extreme-mission", scenario.goal)
        mission_id = reply.split()[1]
        async with world.deadline(MISSION_DEADLINE, "seal", mission_id):
            records = await world.wait_for_end(mission_id)
        core_after = proc_cpu_seconds(core)
        opencode_after = proc_cpu_seconds(world.opencode.pid)
        if final_state(records) != "sealed" or world.core_pid() != core:
            raise SystemExit(f"the mission did not seal in one core\n{await world.explain()}")
        return Run(
            wall=records[-1].ts - started,
            core_cpu=core_after - core_before,
            core_total=core_after,
            opencode_cpu=opencode_after - opencode_before,
            requests=len(world.world.llm.requests),
            events=len(world.events) - events_before,
        )


def _line(label: str, run: Run) -> str:
    return (
        f"{label:>7}  wall {run.wall:6.2f} s   core {run.core_cpu:5.2f} s CPU "
        f"({run.core_cpu / UNITS * 1000:4.0f} ms/unit; {run.core_total:5.2f} s since start)   "
        f"OpenCode {run.opencode_cpu:5.2f} s CPU   {run.requests} LLM requests, "
        f"{run.events} events"
    )


async def main(runs: int) -> None:
    """Run the mission ``runs`` times and print each run and the medians."""
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {UNITS} units")
    results: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        for index in range(runs):
            run = await one_run(Path(tmp) / f"run{index}")
            results.append(run)
            print(_line(f"run {index + 1}", run), flush=True)
    median = Run(
        wall=statistics.median(r.wall for r in results),
        core_cpu=statistics.median(r.core_cpu for r in results),
        core_total=statistics.median(r.core_total for r in results),
        opencode_cpu=statistics.median(r.opencode_cpu for r in results),
        requests=round(statistics.median(r.requests for r in results)),
        events=round(statistics.median(r.events for r in results)),
    )
    print(_line("median", median))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="missions to run (default 3)")
    parser.add_argument("--quick", action="store_true", help="one run")
    args, _ = parser.parse_known_args()  # `./dev bench ARGS` passes ARGS to every bench
    if args.quick or os.environ.get("BENCH_QUICK"):
        args.runs = 1
    return args


if __name__ == "__main__":
    anyio.run(main, _args().runs)
