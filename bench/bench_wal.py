"""Benchmark of the write-ahead log against raw write + fdatasync on the same disk.

Run: ``.venv/bin/python bench/bench_wal.py [--dir DIR] [--seconds S]``. Prints a
table of each figure, its target and PASS/MISS, then the two targets that are
ratios to the raw baseline again, measured in rounds that interleave the two.
The temporary files live under ``--dir`` (default: a fresh directory under the
repository's ``bench/``, i.e. the repository's file system), and are removed
afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import anyio
import structlog

from opencode_orchestrator import runtime
from opencode_orchestrator.wal import Durability, RecordRegistry, WriteAheadLog
from opencode_orchestrator.wal.record import encode_record

REGISTRY = RecordRegistry(["bench.record"])
PAYLOAD = {"task": "t-000123", "state": "running", "note": "x" * 40}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_sync(directory: Path, per_sync: int, seconds: float) -> tuple[float, float, float]:
    """Records/s, p50 and p99 latency (s) of write(per_sync lines) + fdatasync."""
    line = encode_record(1, time.time(), "bench.record", PAYLOAD)
    batch = line * per_sync
    path = directory / f"raw-{per_sync}.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    latencies: list[float] = []
    try:
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            os.write(fd, batch)
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink()
    return (
        len(latencies) * per_sync / elapsed,
        statistics.median(latencies),
        _percentile(latencies, 0.99),
    )


async def bare_hop(directory: Path, seconds: float) -> float:
    """p50 (s) of loop -> thread -> O_DSYNC write -> loop, nothing else (1 appender).

    The floor of any design that keeps writes off the event loop: the WAL's
    1-appender latency can only approach this, not the raw figure.
    """
    line = encode_record(1, time.time(), "bench.record", PAYLOAD)
    path = directory / "hop.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_DSYNC, 0o600)
    loop = asyncio.get_running_loop()
    jobs: queue.SimpleQueue[asyncio.Future[None] | None] = queue.SimpleQueue()

    def writer() -> None:
        while (fut := jobs.get()) is not None:
            os.write(fd, line)
            loop.call_soon_threadsafe(fut.set_result, None)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    latencies: list[float] = []
    try:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            fut = loop.create_future()
            jobs.put(fut)
            await fut
            latencies.append(time.perf_counter() - t0)
    finally:
        jobs.put(None)
        thread.join()
        os.close(fd)
        path.unlink()
    return statistics.median(latencies)


async def wal_appends(
    directory: Path, appenders: int, seconds: float
) -> tuple[float, float, float, str]:
    """Durable appends/s and p50/p99 ack latency with ``appenders`` concurrent tasks."""
    latencies: list[float] = []
    wal = await WriteAheadLog.open(directory, durability=Durability.ALWAYS, registry=REGISTRY)
    async with wal:
        deadline = time.perf_counter() + seconds

        async def appender() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await wal.append("bench.record", PAYLOAD)
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(appenders):
                tg.start_soon(appender)
        elapsed = time.perf_counter() - start
        stats = wal.stats
    detail = f"{stats.appends / max(stats.fsyncs, 1):.1f} appends/fsync"
    return (
        len(latencies) / elapsed,
        statistics.median(latencies),
        _percentile(latencies, 0.99),
        detail,
    )


async def replay_time(directory: Path, records: int) -> float:
    """Seconds to open (lock, scan, verify, decode) a log of ``records`` records."""
    wal = await WriteAheadLog.open(directory, durability=Durability.NONE, registry=REGISTRY)
    async with wal:
        for i in range(records):
            await wal.append("bench.record", {**PAYLOAD, "i": i})
    t0 = time.perf_counter()
    wal = await WriteAheadLog.open(directory, registry=REGISTRY)
    elapsed = time.perf_counter() - t0
    assert len(wal.recovery.records) == records
    await wal.close()
    return elapsed


async def interleaved(base: Path, rounds: int, seconds: float) -> tuple[list[float], list[float]]:
    """Per round: WAL 64-appender rate / raw 1-record rate, WAL 1-appender p50 / raw p50.

    The raw baseline and the WAL take turns in short slices, so a disk or CPU
    that other processes slow down for a while slows both sides of a ratio alike;
    the figures above are measured seconds apart and can catch different weather.
    """
    rates: list[float] = []
    latencies: list[float] = []
    for r in range(rounds):
        many, one = base / f"interleaved-{r}-64", base / f"interleaved-{r}-1"
        if r % 2:  # alternate the order, so neither side always goes first
            rate = (await wal_appends(many, 64, seconds))[0]
            p50 = (await wal_appends(one, 1, seconds))[1]
            raw_rate, raw_p50, _ = raw_sync(base, 1, seconds)
        else:
            raw_rate, raw_p50, _ = raw_sync(base, 1, seconds)
            p50 = (await wal_appends(one, 1, seconds))[1]
            rate = (await wal_appends(many, 64, seconds))[0]
        rates.append(rate / raw_rate)
        latencies.append(p50 / raw_p50)
    return rates, latencies


def _spread(values: list[float]) -> str:
    low, median, high = statistics.quantiles(values, n=4)
    return f"{median:.2f} ({low:.2f}-{high:.2f})"


def _row(name: str, value: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("PASS" if ok else "MISS")
    print(f"{name:<44} {value:>22}  {target:<30} {verdict}")


async def run(base: Path, seconds: float) -> None:
    fs = (
        subprocess.run(["df", "-T", str(base)], capture_output=True, text=True, check=False)
        .stdout.splitlines()[-1]
        .split()
    )
    print(f"directory {base}  file system {fs[1] if len(fs) > 1 else '?'} ({fs[0]})")
    print(f"{os.cpu_count()} CPUs, {seconds:.1f} s per measurement\n")
    raw1_rate, raw1_p50, raw1_p99 = raw_sync(base, 1, seconds)
    raw64_rate, raw64_p50, _ = raw_sync(base, 64, seconds)
    print(f"{'figure':<44} {'measured':>22}  {'target':<30} verdict")
    _row("raw write+fdatasync, 1 record/sync", f"{raw1_rate:,.0f} rec/s", "(baseline)", None)
    _row("  latency p50 / p99", f"{raw1_p50 * 1e3:.3f} / {raw1_p99 * 1e3:.3f} ms", "", None)
    _row("raw write+fdatasync, 64 records/sync", f"{raw64_rate:,.0f} rec/s", "(ceiling)", None)
    _row("  latency p50", f"{raw64_p50 * 1e3:.3f} ms", "", None)
    hop_p50 = await bare_hop(base, seconds)  # on the loop the product runs on
    _row("bare loop->thread->O_DSYNC write->loop p50", f"{hop_p50 * 1e3:.3f} ms", "(floor)", None)
    for appenders in (1, 8, 64):
        directory = base / f"wal-{appenders}"
        rate, p50, p99, detail = await wal_appends(directory, appenders, seconds)
        _row(f"WAL always, {appenders} appenders", f"{rate:,.0f} rec/s", detail, None)
        if appenders == 1:
            limit = 1.5 * raw1_p50
            _row(
                "  ack latency p50",
                f"{p50 * 1e3:.3f} ms",
                f"<= 1.5 x raw p50 = {limit * 1e3:.3f} ms",
                p50 <= limit,
            )
        else:
            _row("  ack latency p50", f"{p50 * 1e3:.3f} ms", "", None)
        _row("  ack latency p99", f"{p99 * 1e3:.3f} ms", "", None)
        if appenders == 64:
            ratio = rate / raw1_rate
            _row("  rate / raw 1-record rate", f"{ratio:.1f} x", ">= 20 x", ratio >= 20)
    elapsed = await replay_time(base / "replay", 100_000)
    _row("replay (open + recover) of 100,000 records", f"{elapsed:.3f} s", "<= 1 s", elapsed <= 1.0)
    rounds, slice_seconds = 12, 0.25
    rates, latencies = await interleaved(base, rounds, slice_seconds)
    print(f"\ninterleaved with the raw baseline: median (quartiles) of {rounds} rounds")
    print(f"of {slice_seconds} s slices, each ratio taken within one round\n")
    rate_ratio, p50_ratio = statistics.median(rates), statistics.median(latencies)
    _row("WAL 64 appenders rate / raw 1-record rate", _spread(rates), ">= 20 x", rate_ratio >= 20)
    _row("WAL 1 appender ack p50 / raw p50", _spread(latencies), "<= 1.5 x", p50_ratio <= 1.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    with tempfile.TemporaryDirectory(prefix="wal-bench-", dir=args.dir) as raw:
        runtime.run(run, Path(raw), args.seconds)


if __name__ == "__main__":
    main()
