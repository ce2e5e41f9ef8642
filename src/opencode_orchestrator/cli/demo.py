"""``opencode-orchestrator demo``: a whole mission, offline, in a few seconds.

The README's main job. It starts the simulated OpenCode in this process
(seeded, scripted planner, workers and reviewers: no network, no API key)
and runs the real mission engine over it: about 20 units planned as a DAG,
workers in parallel child sessions, shadow and final reviews (about one unit
in seven fails its first review and is fixed in the same session), a few
provider rate limits ridden out, the barrier, the master review, the seal.
Every step goes to the mission's WAL before it happens; the report is
written at the end. It prints the outcome and where the WAL and the report
are, in a new temporary project unless ``--project`` names one.

Output as for ``run``: results on stdout, the live view on stderr. Exit 0
when the mission is sealed, 1 otherwise.

``demo --foundation`` runs the earlier demo of the layers underneath
(JSON-RPC core, WAL group commit, SIGKILL recovery, the OpenCode client).
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import sys
import tempfile
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from opencode_orchestrator import runtime
from opencode_orchestrator.cli.arguments import integer
from opencode_orchestrator.cli.demo_foundation import run_foundation, run_writer_child
from opencode_orchestrator.cli.runner import (
    RunOptions,
    Target,
    announce,
    drive,
    exit_code,
    print_outcome,
    save_sim_settings,
)
from opencode_orchestrator.log import configure_logging
from opencode_orchestrator.log.settings import LEVEL_VARIABLE
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.engine import MissionEngine, new_mission_id
from opencode_orchestrator.mission.store import mission_dir
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.opencode.models import Event, SessionStatusEvent
from opencode_orchestrator.sim import SimConfig
from opencode_orchestrator.sim.config import PlanShape

__all__ = ["GOAL", "add_parser", "demo_sim_config"]

GOAL = "Demo: lay out the sample project the planner designs, one unit per module, reviewed."
_PYTHON = shlex.quote(sys.executable)
UNIT_CHECK = f"{_PYTHON} -m py_compile src/{{unit}}/mod1.py"
"""Each unit's check: the module its worker wrote compiles (real commands, real exit codes)."""
MISSION_CHECK = f"{_PYTHON} -m compileall -q src"
"""The mission's check at the master review: the whole tree compiles."""


def add_parser(subparsers: Any) -> None:
    """Register ``demo``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run a whole mission on the in-process simulator (no network, no API key)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        metavar="DIR",
        help="project directory to run in (default: a new temporary directory)",
    )
    parser.add_argument(
        "--units", type=integer(1, 1000), default=20, metavar="N", help="units (%(default)s)"
    )
    parser.add_argument(
        "--shape",
        choices=[s.value for s in PlanShape],
        default=PlanShape.RANDOM.value,
        help="plan DAG shape (%(default)s)",
    )
    parser.add_argument("--seed", type=integer(0), default=42, metavar="N", help="(%(default)s)")
    parser.add_argument(
        "--foundation",
        action="store_true",
        help="instead, the demo of the layers underneath (RPC, WAL, crash recovery)",
    )
    parser.add_argument("--writer-child", type=Path, help=argparse.SUPPRESS)
    parser.set_defaults(func=_run, parser=parser)


def demo_sim_config(*, units: int = 20, shape: str = "random", seed: int = 42) -> SimConfig:
    """The demo's simulator: quick agents, a review loop to show, a few 429s, real checks."""
    return SimConfig.model_validate(
        {
            "seed": seed,
            "retry_delay": 0.02,
            "cost_per_1k_tokens": 0.003,
            "latency": {"mean": 0.02, "jitter": 0.015},
            "planner": {
                "units": units,
                "shape": shape,
                "width": 4,
                "edge_probability": 0.15,
                "unit_checks": [UNIT_CHECK],
            },
            "reviewer": {"fail_rate": 0.15},
            "faults": {"rate_limit_rate": 0.02},
        }
    )


def _run(args: argparse.Namespace) -> int:
    if args.writer_child is not None:
        return run_writer_child(args.writer_child)
    project: Path = args.project or Path(tempfile.mkdtemp(prefix="oco-demo-"))
    project.mkdir(parents=True, exist_ok=True)
    project = project.resolve()
    if args.foundation:
        return run_foundation(project)
    if not os.environ.get(LEVEL_VARIABLE):  # empty counts as unset, as everywhere
        # The demo provokes rate limits on purpose; their warnings would only
        # interleave with the progress line. The setting still wins when given.
        configure_logging("error")
    return _mission(args, project)


def _mission(args: argparse.Namespace, project: Path) -> int:
    started = time.perf_counter()
    print("OpenCode Orchestrator demo: a mission on the simulated OpenCode, in this process")
    print("(no network, no API key: the agents are scripted and seeded; the engine is real)\n")
    print(f"project   {project}")
    mission_id = new_mission_id()
    sim = demo_sim_config(units=args.units, shape=args.shape, seed=args.seed)
    state = mission_dir(project, mission_id) / "sim"
    save_sim_settings(project, mission_id, sim, state)
    options = RunOptions(project, Target(sim=sim, sim_state=state))
    announce(mission_id, options)
    retries = [0]

    def count_retries(event: Event) -> None:
        if isinstance(event, SessionStatusEvent) and event.properties.status.type == "retry":
            retries[0] += 1

    def watch(engine: MissionEngine) -> None:
        engine.ctx.router.observe(count_retries)

    def opener(client: OpenCodeClient) -> AbstractAsyncContextManager[MissionEngine]:
        config = MissionConfig(checks=[MISSION_CHECK])
        return MissionEngine.create(project, GOAL, client, config=config, mission_id=mission_id)

    result = runtime.run(functools.partial(drive, on_engine=watch), options, mission_id, opener)
    hint = f"opencode-orchestrator resume {mission_id} --project {project} --sim"
    print()
    print_outcome(result, options, resume_hint=hint)
    print(f"  faults    {retries[0]} provider rate-limit retries ridden out")
    print(f"\ndone in {time.perf_counter() - started:.1f} s; look closer with:")
    print(f"  opencode-orchestrator status {mission_id} --project {project}")
    print(f"  opencode-orchestrator wal inspect {result.wal}")
    return exit_code(result)
