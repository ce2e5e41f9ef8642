"""The SIGKILL campaign: writers killed at random moments lose no acknowledged record.

Each chunk reuses one log directory: every new writer process recovers what
the previous, killed one left (torn tails included) and keeps appending, so
recovery itself runs once per kill. 8 chunks x 25 kills = 200 seeded kills.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import anyio
import pytest
import structlog
from anyio.abc import Process

from opencode_orchestrator.wal import RecordRegistry, WriteAheadLog

pytestmark = [pytest.mark.subprocess, pytest.mark.slow, pytest.mark.anyio]

WRITER = Path(__file__).with_name("wal_crash_writer.py")
CHUNKS = 8
KILLS_PER_CHUNK = 25
REGISTRY = RecordRegistry(["crash.append"])


async def _read_lines(process: Process, sink: list[str], ready: anyio.Event) -> None:
    assert process.stdout is not None
    pending = b""
    async for chunk in process.stdout:
        *complete, pending = (pending + chunk).split(b"\n")
        sink.extend(line.decode() for line in complete)
        if not ready.is_set() and "ready" in sink:
            ready.set()


async def _run_and_kill(directory: Path, rng: random.Random) -> tuple[list[str], bool]:
    """Start a writer, SIGKILL it at a seeded random moment, return what it printed."""
    lines: list[str] = []
    ready = anyio.Event()
    during_startup = rng.random() < 0.1
    process = await anyio.open_process(
        [sys.executable, str(WRITER), "append", str(directory)], stderr=None
    )
    async with process, anyio.create_task_group() as tg:
        tg.start_soon(_read_lines, process, lines, ready)
        if during_startup:
            # Sometimes kill during start-up or recovery, which must survive it too.
            await anyio.sleep(rng.uniform(0.0, 0.35))  # the random moment is the experiment
        else:
            with anyio.fail_after(60):
                await ready.wait()
            await anyio.sleep(rng.uniform(0.0, 0.05))  # the random moment is the experiment
        process.kill()
        with anyio.fail_after(60):
            await process.wait()
    assert process.returncode == -9
    return lines, during_startup


def _acks(lines: list[str]) -> list[tuple[int, int, int]]:
    acks = []
    for line in lines:
        if line.startswith("ack "):
            _, w, n, seq = line.split()
            acks.append((int(w), int(n), int(seq)))
    return acks


async def _check_log(directory: Path, acked: dict[int, tuple[int, int]]) -> int:
    async with await WriteAheadLog.open(directory, registry=REGISTRY) as wal:
        records = wal.recovery.records
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    next_n: dict[int, int] = {}
    for record in records:
        w, n = record.data["w"], record.data["n"]
        # Each writer's records are a gap-free, duplicate-free prefix 0..k.
        assert n == next_n.get(w, 0), (record, next_n.get(w, 0))
        next_n[w] = n + 1
    for seq, (w, n) in acked.items():
        assert seq <= len(records), f"acknowledged seq {seq} lost"
        assert records[seq - 1].data == {"w": w, "n": n}
    return len(records)


@pytest.mark.parametrize("chunk", range(CHUNKS))
async def test_sigkill_campaign_loses_no_acknowledged_record(tmp_path: Path, chunk: int) -> None:
    rng = random.Random(20_261_123 + chunk)
    directory = tmp_path / "wal"
    acked: dict[int, tuple[int, int]] = {}
    kills_while_appending = 0
    with structlog.testing.capture_logs():  # keep recovery warnings out of the output
        for _ in range(KILLS_PER_CHUNK):
            lines, during_startup = await _run_and_kill(directory, rng)
            kills_while_appending += not during_startup
            for w, n, seq in _acks(lines):
                assert acked.setdefault(seq, (w, n)) == (w, n), f"seq {seq} acknowledged twice"
            await _check_log(directory, acked)
    # Guard against a campaign that silently stopped exercising anything.
    assert kills_while_appending >= KILLS_PER_CHUNK // 2
    assert len(acked) > 10 * kills_while_appending
