"""A WAL writer process for the subprocess tests (kept to minimal imports).

``append DIR``: recover DIR, then 16 concurrent appenders each append
``{"w": w, "n": k}`` for k continuing from what the log holds, printing
``ack w n seq`` after each acknowledged append, until killed.
``hold DIR``: open DIR, print ``ready PID``, keep the lock until stdin closes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import structlog

from opencode_orchestrator import runtime
from opencode_orchestrator.wal import Durability, RecordRegistry, WriteAheadLog

WRITERS = 16
RECORD_TYPE = "crash.append"


async def _append_forever(directory: Path) -> None:
    registry = RecordRegistry([RECORD_TYPE])
    wal = await WriteAheadLog.open(
        directory, durability=Durability.ALWAYS, registry=registry, segment_max_bytes=32 * 1024
    )
    next_n = [0] * WRITERS
    for record in wal.recovery.records:
        next_n[record.data["w"]] = record.data["n"] + 1
    out = sys.stdout
    out.write("ready\n")
    out.flush()

    async def appender(w: int) -> None:
        n = next_n[w]
        while True:
            record = await wal.append(RECORD_TYPE, {"w": w, "n": n})
            out.write(f"ack {w} {n} {record.seq}\n")
            out.flush()
            n += 1

    async with anyio.create_task_group() as tg:
        for w in range(WRITERS):
            tg.start_soon(appender, w)


async def _hold(directory: Path) -> None:
    async with await WriteAheadLog.open(directory, registry=RecordRegistry([RECORD_TYPE])):
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)


def main() -> None:
    # stdout carries the acks; library logs must not interleave with them.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    mode, directory = sys.argv[1], Path(sys.argv[2])
    runtime.run(_append_forever if mode == "append" else _hold, directory)


if __name__ == "__main__":
    main()
