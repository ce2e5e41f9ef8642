"""Running a scenario mission to its end, and reading its WAL records in assertions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import anyio

from opencode_orchestrator.mission.records import RecordType, TurnKind
from opencode_orchestrator.testing.mission_e2e import CliRun, E2EWorld, run_mission_cli, wal_records
from opencode_orchestrator.wal.record import Record

__all__ = ["RUN_DEADLINE", "of", "run_to_end", "seq", "turn_span", "verdicts"]

RUN_DEADLINE: Final = 180.0
"""Seconds a whole mission may take: minutes of margin on a loaded 2-vCPU machine."""


async def run_to_end(
    world: E2EWorld, state: str, *, args: Sequence[str] = ()
) -> tuple[CliRun, list[Record]]:
    """Run the world's mission with the CLI; it must end in ``state``. The run and its WAL."""
    with anyio.fail_after(RUN_DEADLINE):
        run = await run_mission_cli(world, args=args)
    assert run.document.get("state") == state, run.explain()
    assert run.returncode == (0 if state == "sealed" else 1), run.explain()
    records = await anyio.to_thread.run_sync(wal_records, world.project, run.mission_id)
    return run, records


def of(records: Iterable[Record], record_type: RecordType, **match: object) -> list[Record]:
    """The records of ``record_type`` whose payload has every ``match`` item."""
    return [
        r
        for r in records
        if r.type == record_type and all(r.data.get(k) == v for k, v in match.items())
    ]


def seq(records: list[Record], record_type: RecordType, **match: object) -> int:
    """The position of the first such record (it must exist)."""
    found = of(records, record_type, **match)
    assert found, f"no {record_type} record with {match}"
    return found[0].seq


def turn_span(records: list[Record], unit: str, kind: TurnKind) -> tuple[int, int]:
    """The WAL positions of a unit's first turn of ``kind``: its intent and its end."""
    intent = of(records, RecordType.TURN_INTENT, unit=unit, kind=kind.value)[0]
    return intent.seq, seq(records, RecordType.TURN_ENDED, turn=intent.data["turn"])


def verdicts(records: list[Record], unit: str | None, **match: object) -> list[str]:
    """The verdicts journaled for ``unit`` (``None``: the master's), in order."""
    return [
        r.data["verdict"]["verdict"]
        for r in of(records, RecordType.REVIEW_VERDICT, unit=unit, **match)
    ]
