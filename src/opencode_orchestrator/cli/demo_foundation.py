"""``opencode-orchestrator demo --foundation``: the layers under the mission engine, offline.

The demo from before the mission engine, kept because it shows what the core
does for real, end to end, with no network and no API key:

1. starts ``opencode-orchestrator serve`` as a child process and drives it over
   JSON-RPC exactly as the plugin shim does (initialize, echo round trips, a
   malformed line it must survive, shutdown and exit);
2. opens a mission write-ahead log and appends durable records from concurrent
   writers, showing group commit at work;
3. starts a writer process, kills it with SIGKILL mid-append, reopens the log and
   checks that every acknowledged record survived exactly once;
4. drives the simulated OpenCode through the client (:mod:`.demo_opencode`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import anyio
import orjson
from anyio.abc import Process

from opencode_orchestrator import runtime
from opencode_orchestrator.cli.demo_opencode import opencode_step
from opencode_orchestrator.jsonrpc import Endpoint
from opencode_orchestrator.wal import (
    DEFAULT_REGISTRY,
    Durability,
    RecordRegistry,
    WriteAheadLog,
    mission_wal_dir,
)

__all__ = ["run_foundation", "run_writer_child"]

DEMO_RECORD = "demo.step"
_WRITERS = 8
_RECORDS_PER_WRITER = 250


def _registry() -> RecordRegistry:
    registry = DEFAULT_REGISTRY
    if DEMO_RECORD not in registry:
        registry.register(DEMO_RECORD)
    return registry


def run_foundation(project: Path) -> int:
    """Run the four steps in ``project``; 0 when every check held."""
    return runtime.run(_demo, project)


def run_writer_child(wal_dir: Path) -> int:
    """The process step 3 kills: appends to ``wal_dir`` until it is killed."""
    return runtime.run(_writer_child, wal_dir)


def _say(text: str) -> None:
    print(text, flush=True)


async def _demo(project: Path) -> int:
    started = time.perf_counter()
    _say("OpenCode Orchestrator demo --foundation: the layers under the engine, offline\n")
    await _rpc_step()
    wal_dir = await _wal_step(project)
    ok = await _crash_step(project)
    _say("\n[4/4] OpenCode client against the simulated OpenCode")
    ok = await opencode_step(project, _say) and ok
    _say(f"\ndone in {time.perf_counter() - started:.1f} s")
    _say(f"logs written under {project / '.opencode' / 'orchestrator'}")
    _say(f"inspect one with:  opencode-orchestrator wal inspect {wal_dir}")
    return 0 if ok else 1


async def _rpc_step() -> None:
    _say("[1/4] JSON-RPC core over stdio")
    command = [sys.executable, "-m", "opencode_orchestrator", "serve", "--log-level", "warning"]
    async with await anyio.open_process(command, stderr=None) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        await _malformed_line(process)
        endpoint = Endpoint(process.stdout, process.stdin)
        async with endpoint:
            init = await endpoint.call("initialize", {"clientInfo": {"name": "demo"}}, timeout=10)
            await endpoint.notify("initialized", {})
            server = init["serverInfo"]
            _say(f"      serve pid {process.pid}: {server['name']} {server['version']} initialized")
            await _echo_round_trips(endpoint)
            echoed = await endpoint.call("echo", {"still": "serving"}, timeout=10)
            _say(f"      and the stream stays in sync: echo -> {orjson.dumps(echoed).decode()}")
            await endpoint.call("shutdown", None, timeout=10)
            await endpoint.notify("exit", None)
        code = await _wait(process)
    _say(f"      shutdown + exit -> process exited with code {code}\n")


async def _echo_round_trips(endpoint: Endpoint, count: int = 2000) -> None:
    latencies: list[float] = []
    for i in range(count):
        t0 = time.perf_counter()
        await endpoint.call("echo", {"i": i}, timeout=10)
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1e6
    p99 = latencies[int(len(latencies) * 0.99)] * 1e6
    _say(f"      {count} sequential echo round trips: p50 {p50:.0f} us, p99 {p99:.0f} us")


async def _malformed_line(process: Process) -> None:
    # On the raw pipe, before the endpoint owns it: a real peer can send anything,
    # and the reply shown is the one the core really sent.
    assert process.stdin is not None
    assert process.stdout is not None
    await process.stdin.send(b'{"jsonrpc": "2.0", "method": oops\n')
    reply = b""
    with anyio.fail_after(10):
        while not reply.endswith(b"\n"):
            reply += await process.stdout.receive()
    error = orjson.loads(reply)["error"]
    _say(f"      sent a malformed line -> error {error['code']}: {error['message']}")


async def _wait(process: Process) -> int | None:
    with anyio.fail_after(5):
        return await process.wait()


async def _wal_step(project: Path) -> Path:
    _say("[2/4] Write-ahead log, durability 'always' (fsync before every acknowledgement)")
    wal_dir = mission_wal_dir(project, "demo-group-commit")
    async with await WriteAheadLog.open(
        wal_dir, durability=Durability.ALWAYS, registry=_registry()
    ) as wal:
        t0 = time.perf_counter()

        async def writer(w: int) -> None:
            for n in range(_RECORDS_PER_WRITER):
                await wal.append(DEMO_RECORD, {"writer": w, "n": n})

        async with anyio.create_task_group() as tg:
            for w in range(_WRITERS):
                tg.start_soon(writer, w)
        elapsed = time.perf_counter() - t0
        stats = wal.stats
    total = _WRITERS * _RECORDS_PER_WRITER
    _say(
        f"      {_WRITERS} concurrent writers, {total} durable appends in {elapsed:.2f} s "
        f"({total / elapsed:,.0f}/s) with {stats.fsyncs} fsyncs: "
        f"group commit shared each fsync among {total / max(stats.fsyncs, 1):.1f} records\n"
    )
    return wal_dir


async def _crash_step(project: Path) -> bool:
    _say("[3/4] Crash safety: SIGKILL a writer process mid-append, then recover")
    wal_dir = mission_wal_dir(project, "demo-crash")
    command = [sys.executable, "-m", "opencode_orchestrator", "demo"]
    command += ["--writer-child", str(wal_dir)]
    acked: list[int] = []
    async with await anyio.open_process(command) as child:
        assert child.stdout is not None
        buffer = b""
        with anyio.fail_after(30):
            async for chunk in child.stdout:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                acked.extend(int(line) for line in lines if line)
                if len(acked) >= 1500:
                    os.kill(child.pid, signal.SIGKILL)
                    break
        await child.wait()
        # Acks written before the kill are still in the pipe: read them all.
        async for chunk in child.stdout:
            buffer += chunk
        acked.extend(int(line) for line in buffer.split(b"\n") if line)
    _say(f"      writer pid {child.pid} killed with SIGKILL after {len(acked)} acknowledgements")

    async with await WriteAheadLog.open(wal_dir, registry=_registry()) as wal:
        recovery = wal.recovery
        present = [r.seq for r in recovery.records]
    missing = sorted(set(acked) - set(present))
    duplicates = len(present) - len(set(present))
    tail = "a torn tail was truncated" if recovery.truncated_tail else "no torn tail"
    _say(
        f"      reopened: {len(present)} records on disk, {len(acked)} acknowledged, "
        f"{len(missing)} missing, {duplicates} duplicated; {tail}"
    )
    ok = not missing and duplicates == 0 and present == list(range(1, len(present) + 1))
    verdict = "every acknowledged record survived, exactly once, in order" if ok else "FAILED"
    _say(f"      {verdict}")
    return ok


async def _writer_child(wal_dir: Path) -> int:
    """Append forever from 16 concurrent tasks, printing each acknowledged seq."""
    out = sys.stdout.buffer
    async with await WriteAheadLog.open(wal_dir, registry=_registry()) as wal:

        async def writer(w: int) -> None:
            n = 0
            while True:
                record = await wal.append(DEMO_RECORD, {"writer": w, "n": n})
                out.write(b"%d\n" % record.seq)
                out.flush()
                n += 1

        async with anyio.create_task_group() as tg:
            for w in range(16):
                tg.start_soon(writer, w)
    return 0
