"""Benchmark of the OpenCode client and the simulator (issue 3, section 4).

Run: ``.venv/bin/python bench/bench_opencode.py [--sessions N] [--scale N]``.

The simulator runs as its own process (``opencode-orchestrator sim-server``,
no think time), so the figures of the client (this process) and of the server
(that one) do not share a CPU budget:

1. the client's own cost: sessions created per second through
   ``OpenCodeClient`` and through a bare ``httpx.AsyncClient`` posting the
   same body, both in-process against a canned real answer (so only the
   client's models, retries and error mapping differ), then the same two
   against the simulator over loopback;
2. prompts dispatched per second (``prompt_async``) with the client's event
   stream attached, then turns completed per second and events per second the
   stream received and parsed into typed models;
3. events per second parsed from recorded real-server payloads (parse only);
4. the simulator with ``--scale`` (default 1,000) sessions busy at once:
   memory per idle session, memory per busy session, and CPU per turn.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import httpx
import orjson
import structlog

from opencode_orchestrator import runtime
from opencode_orchestrator.opencode import OpenCodeClient, parse_event
from opencode_orchestrator.opencode.models import SessionIdleEvent
from opencode_orchestrator.testing.script import ScriptDirective, render_directive

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "contract" / "samples"
CONCURRENCY = 16
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_stats(pid: int) -> tuple[int, float]:
    """RSS in bytes and CPU seconds (user + system) of a process, from /proc."""
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    return rss_pages * _PAGE, cpu


@contextlib.asynccontextmanager
async def sim_process(root: Path) -> AsyncIterator[tuple[str, int, Path]]:
    """A ``sim-server`` process with no think time: (base URL, pid, project dir)."""
    project = root / "project"
    project.mkdir()
    config = root / "sim.json"
    config.write_bytes(orjson.dumps({"latency": {"mean": 0, "jitter": 0, "step": 0}}))
    command = [
        sys.executable,
        *("-m", "opencode_orchestrator", "sim-server"),
        *("--state-dir", str(root / "state"), "--config", str(config)),
        *("--directory", str(project), "--seed", "1"),
    ]
    async with await anyio.open_process(command) as process:
        assert process.stdout is not None
        with anyio.fail_after(30):
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stdout.receive(1)
        try:
            yield line.decode().strip(), process.pid, project
        finally:
            process.terminate()
            with anyio.fail_after(10):
                await process.wait()


async def run_concurrently(count: int, call: Callable[[int], Awaitable[object]]) -> float:
    """Run ``call(0..count-1)`` with :data:`CONCURRENCY` workers; return the seconds taken."""
    next_index = iter(range(count))

    async def worker() -> None:
        for index in next_index:
            await call(index)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(CONCURRENCY):
            tg.start_soon(worker)
    return time.perf_counter() - started


async def bench_sessions(url: str, project: Path, count: int, rounds: int = 3) -> dict[str, float]:
    """Interleaved rounds of each (the simulator's speed drifts as its database grows)."""
    body = {"title": "bench"}
    params = {"directory": str(project)}
    per_round = count // rounds
    rates: dict[str, list[float]] = {"client": [], "raw": []}
    async with (
        httpx.AsyncClient(base_url=url) as raw,
        OpenCodeClient(url, directory=str(project)) as client,
    ):

        async def raw_create(_index: int) -> None:
            response = await raw.post("/session", json=body, params=params)
            response.raise_for_status()
            orjson.loads(response.content)

        async def create(_index: int) -> None:
            await client.create_session(title="bench")

        await raw_create(0)  # warm both pools
        await create(0)
        for _ in range(rounds):
            rates["raw"].append(per_round / await run_concurrently(per_round, raw_create))
            rates["client"].append(per_round / await run_concurrently(per_round, create))
    return {kind: statistics.median(values) for kind, values in rates.items()}


async def bench_prompts(url: str, project: Path, count: int) -> dict[str, float]:
    text = "Answer briefly.\n" + render_directive(ScriptDirective(reply="a short answer"))
    received = 0
    idle: set[str] = set()
    all_idle = anyio.Event()
    async with OpenCodeClient(url, directory=str(project)) as client:
        sessions = [s.id for s in [await client.create_session(title="b") for _ in range(count)]]
        wanted = set(sessions)
        async with client.events() as stream, anyio.create_task_group() as tg:

            async def consume() -> None:
                nonlocal received
                async for event in stream:
                    received += 1
                    if isinstance(event, SessionIdleEvent):
                        idle.add(event.properties.session_id)
                        if wanted <= idle:
                            all_idle.set()
                            return

            await stream.subscribed()
            tg.start_soon(consume)
            started = time.perf_counter()

            async def dispatch(index: int) -> None:
                await client.prompt_async(sessions[index], text)

            dispatch_seconds = await run_concurrently(count, dispatch)
            with anyio.fail_after(300):
                await all_idle.wait()
            total_seconds = time.perf_counter() - started
    return {
        "dispatched": count / dispatch_seconds,
        "turns": count / total_seconds,
        "events": received / total_seconds,
        "events_per_turn": received / count,
    }


async def bench_client_cost(count: int) -> dict[str, float]:
    sample = orjson.loads((SAMPLES / "session_create.json").read_bytes())["response_titled"]
    payload = orjson.dumps(sample.get("body", sample))

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=payload, headers={"content-type": "application/json"})

    params = {"directory": "/project"}
    async with httpx.AsyncClient(
        base_url="http://opencode", transport=httpx.MockTransport(answer)
    ) as raw:
        started = time.perf_counter()
        for _ in range(count):
            response = await raw.post("/session", json={"title": "bench"}, params=params)
            response.raise_for_status()
            orjson.loads(response.content)
        raw_seconds = time.perf_counter() - started
    async with OpenCodeClient(
        "http://opencode", directory="/project", transport=httpx.MockTransport(answer)
    ) as client:
        started = time.perf_counter()
        for _ in range(count):
            await client.create_session(title="bench")
        client_seconds = time.perf_counter() - started
    return {"client": count / client_seconds, "raw": count / raw_seconds}


def bench_parse(seconds: float = 2.0) -> float:
    payloads: list[bytes] = []
    for path in sorted(SAMPLES.glob("*_events.json")):
        for event in orjson.loads(path.read_bytes()).get("events", []):
            event.pop("t_offset_s", None)
            payloads.append(orjson.dumps(event))
    parsed = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for payload in payloads:
            parse_event(orjson.loads(payload))
        parsed += len(payloads)
    return parsed / (time.perf_counter() - started)


async def bench_scale(url: str, pid: int, project: Path, count: int) -> dict[str, float]:
    text = "Think for a while.\n" + render_directive(ScriptDirective(reply="done", delay=5.0))
    rss_start, _ = proc_stats(pid)
    async with OpenCodeClient(url, directory=str(project)) as client:
        sessions: list[str] = []

        async def create(_index: int) -> None:
            sessions.append((await client.create_session(title="scale")).id)

        await run_concurrently(count, create)
        rss_idle, cpu_before = proc_stats(pid)

        async def dispatch(index: int) -> None:
            await client.prompt_async(sessions[index], text)

        await run_concurrently(count, dispatch)
        busy_peak = 0
        rss_busy = rss_idle
        with anyio.fail_after(300):
            while True:
                status = await client.session_status()
                rss_now, _ = proc_stats(pid)
                busy_peak = max(busy_peak, len(status))
                rss_busy = max(rss_busy, rss_now)
                if not status:
                    break
                await anyio.sleep(0.2)  # sampling interval of the poll, not a wait for a condition
        _, cpu_after = proc_stats(pid)
    return {
        "busy_peak": busy_peak,
        "kb_per_idle_session": (rss_idle - rss_start) / count / 1024,
        "kb_per_busy_session": (rss_busy - rss_start) / count / 1024,
        "cpu_ms_per_turn": (cpu_after - cpu_before) / count * 1000,
        "rss_mb_idle": rss_idle / 2**20,
        "rss_mb_busy": rss_busy / 2**20,
    }


async def main(args: argparse.Namespace) -> None:
    loop = "uvloop" if runtime.USE_UVLOOP else runtime.BACKEND
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {loop}")
    print(f"parse only: {bench_parse():,.0f} events/s (recorded real payloads)")
    cost = await bench_client_cost(args.sessions * 2)
    print(
        f"client cost, in-process: client {cost['client']:,.0f} sessions/s, "
        f"bare httpx {cost['raw']:,.0f}/s (client/bare {cost['client'] / cost['raw']:.2f}x)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-opencode-") as tmp:
        async with sim_process(Path(tmp)) as (url, _pid, project):
            sessions = await bench_sessions(url, project, args.sessions)
            print(
                f"sessions created over loopback: client {sessions['client']:,.0f}/s, "
                f"bare httpx {sessions['raw']:,.0f}/s "
                f"(client/bare {sessions['client'] / sessions['raw']:.2f}x)"
            )
            prompts = await bench_prompts(url, project, args.prompts)
            print(
                f"prompts dispatched: {prompts['dispatched']:,.0f}/s with the stream attached; "
                f"turns completed {prompts['turns']:,.0f}/s; stream parsed "
                f"{prompts['events']:,.0f} events/s ({prompts['events_per_turn']:.0f} per turn)"
            )
    with tempfile.TemporaryDirectory(prefix="bench-opencode-") as tmp:
        async with sim_process(Path(tmp)) as (url, pid, project):
            scale = await bench_scale(url, pid, project, args.scale)
            print(
                f"simulator, {args.scale} sessions (peak {scale['busy_peak']:.0f} busy at once): "
                f"{scale['kb_per_idle_session']:.1f} KiB/idle session, "
                f"{scale['kb_per_busy_session']:.1f} KiB/busy session, "
                f"{scale['cpu_ms_per_turn']:.2f} ms CPU/turn "
                f"(RSS {scale['rss_mb_idle']:.0f} MiB idle, {scale['rss_mb_busy']:.0f} MiB busy)"
            )


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000, help="sessions to create")
    parser.add_argument("--prompts", type=int, default=1000, help="prompts to dispatch")
    parser.add_argument("--scale", type=int, default=1000, help="concurrent sessions")
    return parser.parse_args()


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    arguments = _args()
    runtime.run(main, arguments)
