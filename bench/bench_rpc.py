"""Echo round trips over stdio: our `serve` against a raw NDJSON floor and the MCP SDK.

Run:  .venv/bin/python bench/bench_rpc.py [--quick]

Every server is a real child process spoken to over pipes:

* raw floor   - a tiny blocking Python loop (readline, orjson, write+flush) driven by
                a blocking client: the least any Python JSON-over-pipes echo can cost;
* serve/raw   - our `opencode-orchestrator serve`, driven by that same blocking client
                (isolates the server);
* serve/ours  - `serve` driven by our `Endpoint` over anyio process pipes (the full
                stack on both sides, as the plugin shim and the demo use it);
* serve/shim  - `serve` driven by the plugin shim's own TypeScript client
                (`plugin-shim/src/rpc.ts` as built, on node, wired to the pipes as
                `core-process.ts` wires it: `bench/shim_echo_client.mjs`): the client
                users run; skipped, saying so, without node or the shim's build;
* mcp         - the MCP Python SDK: an `MCPServer` stdio server with an `echo` tool,
                driven by the SDK's stdio `Client` (`call_tool`).

Sequential: one call at a time (round-trip p50/p99, calls/s). Pipelined: a window of
256 calls in flight (messages/s). For the servers driven by the blocking client, also
the server's own CPU time per message (its main thread's, from Linux's
/proc/<pid>/schedstat): what the shared host's noise moves least.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio
import orjson
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.server.mcpserver import MCPServer

from opencode_orchestrator import runtime
from opencode_orchestrator.jsonrpc import Endpoint

SERVE = [sys.executable, "-m", "opencode_orchestrator", "serve", "--log-level", "warning"]
RAW_SERVER = [sys.executable, __file__, "--role", "raw-server"]
MCP_SERVER = [sys.executable, __file__, "--role", "mcp-server"]
WINDOW = 256
SHIM_RPC = Path(__file__).resolve().parent.parent / "plugin-shim" / "build" / "src" / "rpc.js"
SHIM_CLIENT = Path(__file__).resolve().with_name("shim_echo_client.mjs")


@dataclass
class Result:
    name: str
    sequential: float | None = None  # calls/s
    p50_us: float | None = None
    p99_us: float | None = None
    pipelined: float | None = None  # messages/s
    seq_server_us: float | None = None  # the server's CPU per sequential call
    pipe_server_us: float | None = None  # the server's CPU per pipelined message


def _params(i: int) -> dict[str, Any]:
    return {"text": "hello, orchestrator", "n": i}


def _line(i: int) -> bytes:
    message = {"jsonrpc": "2.0", "id": i, "method": "echo", "params": _params(i)}
    return orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)


def _latency_summary(name: str, latencies: list[float], elapsed: float) -> Result:
    latencies.sort()
    return Result(
        name,
        sequential=len(latencies) / elapsed,
        p50_us=statistics.median(latencies) * 1e6,
        p99_us=latencies[int(len(latencies) * 0.99) - 1] * 1e6,
    )


def _server_cpu_ns(pid: int) -> int | None:
    """On-CPU time of the process's main thread in ns (Linux); None where unknown."""
    try:
        with open(f"/proc/{pid}/schedstat") as stats:
            return int(stats.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _per_message_us(before: int | None, after: int | None, count: int) -> float | None:
    return None if before is None or after is None else (after - before) / count / 1000


# --- servers run as children -------------------------------------------------------------


def raw_server() -> None:
    reader, writer = sys.stdin.buffer, sys.stdout.buffer
    for line in reader:
        message = orjson.loads(line)
        reply = {"jsonrpc": "2.0", "id": message.get("id"), "result": message.get("params")}
        if message.get("method") == "exit":
            return
        writer.write(orjson.dumps(reply, option=orjson.OPT_APPEND_NEWLINE))
        writer.flush()


def mcp_server() -> None:
    # Logging at WARNING, as `serve` runs in this benchmark: per-call INFO lines would cost it.
    server = MCPServer("bench-echo", log_level="WARNING")

    @server.tool()
    def echo(text: str, n: int) -> dict[str, Any]:
        """Return the arguments."""
        return {"text": text, "n": n}

    server.run("stdio")


# --- blocking raw client -----------------------------------------------------------------


def _raw_sequential(stdin_fd: int, stdout: IO[bytes], count: int) -> tuple[list[float], float]:
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        os.write(stdin_fd, _line(i))
        stdout.readline()
        latencies.append(time.perf_counter() - t0)
    return latencies, time.perf_counter() - started


def _raw_pipelined(stdin_fd: int, stdout: IO[bytes], total: int) -> float:
    started = time.perf_counter()
    os.write(stdin_fd, b"".join(_line(i) for i in range(WINDOW)))
    sent = WINDOW
    for _ in range(total):
        stdout.readline()
        if sent < total:
            os.write(stdin_fd, _line(sent))
            sent += 1
    return total / (time.perf_counter() - started)


def bench_raw_client(
    name: str, command: list[str], initialize: bool, seq: int, pipe: int
) -> Result:
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert process.stdin is not None
    assert process.stdout is not None
    stdin_fd = process.stdin.fileno()
    stdout = os.fdopen(process.stdout.fileno(), "rb", closefd=False)
    if initialize:
        os.write(stdin_fd, b'{"jsonrpc":"2.0","id":"i","method":"initialize","params":{}}\n')
        stdout.readline()
        os.write(stdin_fd, b'{"jsonrpc":"2.0","method":"initialized"}\n')
    _raw_sequential(stdin_fd, stdout, min(500, seq))  # warm-up
    cpu_start = _server_cpu_ns(process.pid)
    latencies, elapsed = _raw_sequential(stdin_fd, stdout, seq)
    cpu_sequential = _server_cpu_ns(process.pid)
    result = _latency_summary(name, latencies, elapsed)
    result.pipelined = _raw_pipelined(stdin_fd, stdout, pipe)
    result.seq_server_us = _per_message_us(cpu_start, cpu_sequential, seq)
    result.pipe_server_us = _per_message_us(cpu_sequential, _server_cpu_ns(process.pid), pipe)
    if initialize:
        os.write(stdin_fd, b'{"jsonrpc":"2.0","id":"s","method":"shutdown"}\n')
        stdout.readline()
    os.write(stdin_fd, b'{"jsonrpc":"2.0","method":"exit"}\n')
    process.stdin.close()
    process.wait(10)
    stdout.close()
    process.stdout.close()
    return result


# --- our endpoint as the client ----------------------------------------------------------


async def bench_endpoint_client(seq: int, pipe: int) -> Result:
    async with await anyio.open_process(SERVE, stderr=None) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        async with Endpoint(process.stdout, process.stdin, request_timeout=60) as endpoint:
            await endpoint.call("initialize", {"clientInfo": {"name": "bench"}})
            await endpoint.notify("initialized")
            for i in range(min(500, seq)):
                await endpoint.call("echo", _params(i))
            latencies = []
            started = time.perf_counter()
            for i in range(seq):
                t0 = time.perf_counter()
                await endpoint.call("echo", _params(i))
                latencies.append(time.perf_counter() - t0)
            result = _latency_summary("serve <- Endpoint", latencies, time.perf_counter() - started)

            async def worker(share: int) -> None:
                for i in range(share):
                    await endpoint.call("echo", _params(i))

            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(WINDOW):
                    tg.start_soon(worker, pipe // WINDOW)
            result.pipelined = (pipe // WINDOW * WINDOW) / (time.perf_counter() - started)
            await endpoint.call("shutdown")
            await endpoint.notify("exit")
        await process.wait()
    return result


# --- the plugin shim's TypeScript client ------------------------------------------------


def bench_shim_client(seq: int, pipe: int) -> Result | None:
    node = shutil.which("node")
    if node is None or not SHIM_RPC.exists():
        print(
            "serve <- shim: skipped (needs node and the shim's build: "
            "npm --prefix plugin-shim run build)",
            file=sys.stderr,
        )
        return None
    command = [node, str(SHIM_CLIENT), str(SHIM_RPC), str(seq), str(pipe), str(WINDOW), "--"]
    done = subprocess.run([*command, *SERVE], capture_output=True, check=True, timeout=600)
    figures = orjson.loads(done.stdout.splitlines()[-1])
    return Result(
        "serve <- shim (node)",
        figures["sequential"],
        figures["p50_us"],
        figures["p99_us"],
        figures["pipelined"],
    )


# --- the MCP SDK -------------------------------------------------------------------------


async def bench_mcp(seq: int) -> Result:
    server = StdioServerParameters(command=MCP_SERVER[0], args=MCP_SERVER[1:])
    async with Client(server) as client:
        for i in range(min(100, seq)):
            await client.call_tool("echo", _params(i))
        latencies = []
        started = time.perf_counter()
        for i in range(seq):
            t0 = time.perf_counter()
            await client.call_tool("echo", _params(i))
            latencies.append(time.perf_counter() - t0)
    return _latency_summary("mcp sdk (stdio)", latencies, time.perf_counter() - started)


# --- report ------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}"


def _fmt_us(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _check(label: str, ours: float | None, reference: float | None, factor: float) -> bool:
    if ours is None or reference is None:
        print(f"  {label}: not measured")
        return False
    ratio = ours / reference
    ok = ratio >= factor
    print(f"  {label}: {ratio:.2f}x (target >= {factor}x)  {'PASS' if ok else 'MISS'}")
    return ok


def _best(old: Result | None, new: Result | None) -> Result | None:
    if new is None:
        return old
    if old is None:
        return new
    best = old if (old.sequential or 0) >= (new.sequential or 0) else new
    piped = old if (old.pipelined or 0) >= (new.pipelined or 0) else new
    return Result(
        best.name,
        best.sequential,
        best.p50_us,
        best.p99_us,
        piped.pipelined,
        best.seq_server_us,
        piped.pipe_server_us,
    )


def run_all(quick: bool) -> int:
    seq, pipe, mcp_seq = (1000, 10_000, 200) if quick else (3000, 30_000, 500)
    rounds = 1 if quick else 3
    results: dict[str, Result] = {}
    steps: list[tuple[str, Callable[[], Result | None]]] = [
        ("floor", lambda: bench_raw_client("raw floor", RAW_SERVER, False, seq, pipe)),
        ("serve_raw", lambda: bench_raw_client("serve <- raw client", SERVE, True, seq, pipe)),
        ("serve_ours", lambda: runtime.run(bench_endpoint_client, seq, pipe)),
        ("serve_shim", lambda: bench_shim_client(seq, pipe)),
        ("mcp", lambda: runtime.run(bench_mcp, mcp_seq)),
    ]
    # The machine is shared and noisy: keep each configuration's best of a few rounds,
    # interleaved so that a burst of noise does not hit one configuration only.
    for round_number in range(rounds):
        for key, step in steps:
            print(f"round {round_number + 1}/{rounds}: {key}", file=sys.stderr, flush=True)
            best = _best(results.get(key), step())
            if best is not None:
                results[key] = best

    print(
        f"\necho over stdio pipes; {os.cpu_count()} CPUs; window {WINDOW} when pipelined; "
        f"best of {rounds} round(s); {seq} sequential calls ({mcp_seq} for MCP), {pipe} pipelined\n"
    )
    header = (
        f"{'server <- client':<22}{'seq calls/s':>13}{'p50 us':>9}{'p99 us':>9}"
        f"{'pipelined msg/s':>17}{'server CPU us: seq':>20}{'pipelined':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in results.values():
        print(
            f"{r.name:<22}{_fmt(r.sequential):>13}{_fmt(r.p50_us):>9}{_fmt(r.p99_us):>9}"
            f"{_fmt(r.pipelined):>17}{_fmt_us(r.seq_server_us):>20}{_fmt_us(r.pipe_server_us):>11}"
        )
    floor, raw, ours, mcp = (results[k] for k in ("floor", "serve_raw", "serve_ours", "mcp"))
    print("\ntargets")
    checks = [
        _check("full stack sequential vs MCP SDK", ours.sequential, mcp.sequential, 3.0),
        _check("full stack sequential vs raw floor", ours.sequential, floor.sequential, 0.5),
        _check("full stack pipelined vs raw floor", ours.pipelined, floor.pipelined, 0.5),
        _check("serve (raw client) sequential vs raw floor", raw.sequential, floor.sequential, 0.5),
        _check("serve (raw client) pipelined vs raw floor", raw.pipelined, floor.pipelined, 0.5),
    ]
    shim = results.get("serve_shim")
    if shim is not None:
        # The client users run; shown beside the targets, not one of them.
        print("  the shim's client (node) with serve:")
        _check("  sequential vs MCP SDK", shim.sequential, mcp.sequential, 3.0)
        _check("  sequential vs raw floor", shim.sequential, floor.sequential, 0.5)
        _check("  pipelined vs raw floor", shim.pipelined, floor.pipelined, 0.5)
    return 0 if all(checks) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["bench", "raw-server", "mcp-server"], default="bench")
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    args = parser.parse_args()
    if args.role == "raw-server":
        raw_server()
        return 0
    if args.role == "mcp-server":
        mcp_server()
        return 0
    return run_all(args.quick)


if __name__ == "__main__":
    sys.exit(main())
