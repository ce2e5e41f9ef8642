"""A mission core process for the crash tests: run or resume one mission over a simulator.

::

    mission_driver.py run    --server URL --project DIR --mission ID --goal TEXT --config JSON
    mission_driver.py resume --server URL --project DIR --mission ID

The mission's journal is written with ``Durability.ALWAYS``. stdout carries one
flushed line per fact, so a test can pick the moment to kill this process by
what it has durably done rather than by how long it has run:

``opened N``
    the journal is open and replayed (N records), before ``run()`` starts
``rec TYPE TURN``
    a record of ``TYPE`` is written (``TURN``: its turn id, or ``-``): durable,
    unless the engine wrote it with ``durable=False`` (then it rides the next
    durable record's sync)
``final STATE``
    ``run()`` returned the mission's final state

Logs go to stderr (warnings and worse).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from opencode_orchestrator import runtime
from opencode_orchestrator.log import configure_logging, flush_logging
from opencode_orchestrator.mission.config import MissionConfig
from opencode_orchestrator.mission.engine import MissionEngine
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.opencode import OpenCodeClient
from opencode_orchestrator.wal.log import Durability


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class _AnnouncingJournal(Journal):
    """A journal that says so on stdout once each record is written and applied.

    A durable record is on disk by then; one written with ``durable=False`` is
    queued and may still be lost to a kill (it rides the next durable one).
    """

    async def write(
        self, record_type: RecordType, data: dict[str, Any], *, durable: bool = True
    ) -> None:
        await super().write(record_type, data, durable=durable)
        _say(f"rec {record_type.value} {data.get('turn') or '-'}")


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
        async with engine_cm as engine:
            journal = engine.ctx.journal
            # The engine opens its own journal; make that very object announce its writes.
            journal.__class__ = _AnnouncingJournal
            _say(f"opened {journal.wal.last_seq}")
            state = await engine.run()
            _say(f"final {state.value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["run", "resume"])
    parser.add_argument("--server", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--mission", required=True)
    parser.add_argument("--goal", default="build the thing")
    parser.add_argument("--config", default="{}", help="MissionConfig as JSON (run only)")
    parser.add_argument("--log-level", default="warning", help="of the logs on stderr")
    args = parser.parse_args()
    configure_logging(args.log_level)
    try:
        runtime.run(_drive, args)
    finally:
        flush_logging()


if __name__ == "__main__":
    main()
