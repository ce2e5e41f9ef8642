// The core as a real child process: test/fixtures/fake-core.mjs run by node.

import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { join } from "node:path"
import { afterEach, describe, it } from "node:test"

import { CoreProcess, CoreUnavailableError } from "../src/core-process.ts"
import type { CoreProcessOptions, SpawnFunction } from "../src/core-process.ts"
import { ConnectionClosedError, RpcError, RpcTimeoutError } from "../src/rpc.ts"
import { MemoryLogger, fakeCoreCommand, recorded, rejectionOf, tempDir, waitFor } from "./helpers.ts"

const started: CoreProcess[] = []

afterEach(async () => {
  await Promise.all(started.splice(0).map((core) => core.stop()))
})

function core(command: string[], overrides: Partial<CoreProcessOptions> = {}) {
  const log = new MemoryLogger()
  const giveUps: string[] = []
  const spawnTimes: number[] = []
  const spawnFn: SpawnFunction = (file, args, options) => {
    spawnTimes.push(Date.now())
    return spawn(file, args, { ...options, stdio: ["pipe", "pipe", "pipe"] })
  }
  const process_ = new CoreProcess({
    command,
    cwd: tempDir(),
    env: { ...process.env },
    initializeParams: () => ({ protocolVersion: "1", serverUrl: "http://127.0.0.1:4096", directory: "/project" }),
    log,
    requestTimeoutMs: 5_000,
    initializeTimeoutMs: 5_000,
    stopGraceMs: 1_000,
    restart: { initialDelayMs: 20, maxDelayMs: 1_000, maxRestarts: 3, windowMs: 60_000 },
    onGiveUp: (message) => giveUps.push(message),
    spawn: spawnFn,
    ...overrides,
  })
  started.push(process_)
  return { core: process_, log, giveUps, spawnTimes }
}

describe("CoreProcess", () => {
  it("initializes the core with the given params, then sends initialized, then serves calls", async () => {
    const record = join(tempDir(), "record.jsonl")
    const { core: c } = core(fakeCoreCommand("--record", record))
    c.start()
    await c.whenReady(5_000)
    assert.equal(c.state, "ready")
    assert.deepEqual(await c.call("echo", { x: 1 }), { x: 1 })
    const messages = recorded(record)
    assert.equal(messages[0]?.method, "initialize")
    assert.deepEqual(messages[0]?.params, { protocolVersion: "1", serverUrl: "http://127.0.0.1:4096", directory: "/project" })
    assert.equal(messages[1]?.method, "initialized")
    assert.equal(messages[1]?.id, undefined)
  })

  it("passes the core's stderr to the log, and survives a garbage line on stdout", async () => {
    const { core: c, log } = core(fakeCoreCommand("--garbage"))
    c.start()
    await c.whenReady(5_000)
    await waitFor(() => log.coreLines.some((line) => line.includes("fake core started")), 5_000, "stderr in the log")
    assert.ok(log.has("warn", "not JSON"))
    assert.deepEqual(await c.call("echo", [1]), [1])
  })

  it("maps the core's errors and times out slow calls", async () => {
    const { core: c } = core(fakeCoreCommand())
    c.start()
    const cancel = await rejectionOf(c.call("mission/cancel", {}))
    assert.ok(cancel instanceof RpcError)
    assert.equal(cancel.code, -33003)
    const slow = await rejectionOf(c.call("diagnostics/sleep", { seconds: 2 }, { timeoutMs: 50 }))
    assert.ok(slow instanceof RpcTimeoutError)
  })

  it("restarts a core that dies, with growing delays, and initializes it again", async () => {
    const dir = tempDir()
    const record = join(dir, "record.jsonl")
    const command = fakeCoreCommand("--crash-runs", "2", "--counter", join(dir, "count"), "--record", record)
    const { core: c, spawnTimes, giveUps } = core(command, {
      restart: { initialDelayMs: 100, maxDelayMs: 10_000, maxRestarts: 5, windowMs: 60_000 },
    })
    c.start()
    // Runs 1 and 2 die after `initialized`; run 3 stays.
    await waitFor(() => c.spawnCount === 3 && c.state === "ready", 10_000, "the third run")
    assert.deepEqual(await c.call("echo", "alive"), "alive")
    assert.equal(recorded(record).filter((message) => message.method === "initialize").length, 3)
    const [first = 0, second = 0, third = 0] = spawnTimes
    assert.ok(second - first >= 100, `first restart after ${second - first} ms`)
    assert.ok(third - second >= 200, `second restart after ${third - second} ms (doubled)`)
    assert.deepEqual(giveUps, [])
  })

  it("gives up after too many restarts in the window, says so once, and fails later calls clearly", async () => {
    const { core: c, giveUps, spawnTimes } = core(fakeCoreCommand("--exit-at-start"))
    c.start()
    await waitFor(() => c.state === "failed", 10_000, "giving up")
    assert.equal(spawnTimes.length, 4) // the first run and 3 restarts
    assert.equal(giveUps.length, 1)
    assert.match(giveUps[0] ?? "", /died 4 times/)
    assert.match(giveUps[0] ?? "", /exit code 2/)
    assert.match(giveUps[0] ?? "", /cannot start \(--exit-at-start\)/) // the last stderr line
    assert.match(giveUps[0] ?? "", /memory\.log/) // where to look
    const error = await rejectionOf(c.call("mission/status", {}))
    assert.ok(error instanceof CoreUnavailableError)
    assert.equal(error.state, "failed")
    assert.equal(error.message, giveUps[0])
  })

  it("reports a command that cannot be spawned, and gives up on it", async () => {
    const { core: c, giveUps } = core(["/nonexistent/opencode-orchestrator", "serve"])
    c.start()
    await waitFor(() => c.state === "failed", 10_000, "giving up")
    assert.match(giveUps[0] ?? "", /could not start `\/nonexistent\/opencode-orchestrator serve`: spawn .*ENOENT/)
  })

  it("kills and restarts a core that does not answer initialize", async () => {
    const { core: c, log } = core(fakeCoreCommand("--no-init-answer"), {
      initializeTimeoutMs: 100,
      restart: { initialDelayMs: 10, maxDelayMs: 100, maxRestarts: 1, windowMs: 60_000 },
    })
    c.start()
    await waitFor(() => c.state === "failed", 10_000, "giving up")
    assert.ok(log.has("error", "did not initialize"))
    assert.match((await rejectionOf(c.call("echo", 1))).message, /initialize failed: the orchestrator core did not answer initialize within 100 ms/)
  })

  it("lets a call made during a restart wait for the new core", async () => {
    const dir = tempDir()
    const command = fakeCoreCommand("--crash-runs", "1", "--counter", join(dir, "count"))
    const { core: c } = core(command, { restart: { initialDelayMs: 200, maxDelayMs: 1_000, maxRestarts: 3, windowMs: 60_000 } })
    c.start()
    await waitFor(() => c.state === "restarting", 5_000, "the first death")
    assert.deepEqual(await c.call("echo", "after restart"), "after restart")
    assert.equal(c.spawnCount, 2)
  })

  it("fails a call in flight when the core dies, without retrying it", async () => {
    const { core: c } = core(fakeCoreCommand())
    c.start()
    await c.whenReady(5_000)
    const pending = c.call("diagnostics/sleep", { seconds: 10 })
    process.kill(c.pid ?? 0, "SIGKILL")
    const error = await rejectionOf(pending)
    assert.ok(error instanceof ConnectionClosedError)
    assert.match(error.message, /killed by SIGKILL/)
  })

  it("stops with shutdown and exit, and the core exits 0", async () => {
    const record = join(tempDir(), "record.jsonl")
    const { core: c } = core(fakeCoreCommand("--record", record))
    c.start()
    await c.whenReady(5_000)
    const pid = c.pid ?? 0
    await c.stop()
    assert.equal(c.state, "stopped")
    assert.deepEqual(
      recorded(record).map((message) => message.method),
      ["initialize", "initialized", "shutdown", "exit"],
    )
    assert.throws(() => process.kill(pid, 0)) // gone
    assert.equal((await rejectionOf(c.call("echo", 1))).name, "CoreUnavailableError")
  })

  it("escalates to SIGTERM and then SIGKILL for a core that ignores shutdown", async () => {
    const { core: c, log } = core(fakeCoreCommand("--stubborn"), { stopGraceMs: 100 })
    c.start()
    await c.whenReady(5_000)
    const pid = c.pid ?? 0
    await c.stop()
    assert.ok(log.has("warn", "sending SIGTERM"))
    assert.ok(log.has("error", "sending SIGKILL"))
    assert.throws(() => process.kill(pid, 0))
  })

  it("does not restart a core that dies while being stopped, nor after", async () => {
    const { core: c } = core(fakeCoreCommand())
    c.start()
    await c.whenReady(5_000)
    await c.stop()
    assert.equal(c.spawnCount, 1)
    assert.equal(c.state, "stopped")
  })
})
