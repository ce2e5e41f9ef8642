// The assembled plugin against the fake core process: the hooks as OpenCode calls them.

import assert from "node:assert/strict"
import { join } from "node:path"
import { afterEach, describe, it } from "node:test"

import * as entry from "../src/index.ts"
import { createShim } from "../src/plugin.ts"
import type { Shim } from "../src/plugin.ts"
import { MemoryLogger, RecordingUi, fakeCoreCommand, recorded, rejectionOf, tempDir, waitFor } from "./helpers.ts"

const shims: Shim[] = []

afterEach(async () => {
  await Promise.all(shims.splice(0).map((shim) => shim.hooks.dispose?.()))
})

function shim(options: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const ui = new RecordingUi()
  const log = new MemoryLogger()
  const directory = tempDir()
  const created = createShim(
    {
      directory,
      worktree: directory,
      serverUrl: () => "http://127.0.0.1:4096/",
      ui: () => ui,
      env: { ...process.env, OPENCODE_SERVER_PASSWORD: "", ...env },
      logger: log,
      restart: { initialDelayMs: 10, maxDelayMs: 50 },
      stopGraceMs: 1_000,
    },
    options,
  )
  shims.push(created)
  return { ...created, ui, log, directory }
}

describe("the plugin entry file", () => {
  it("exports the plugin function only (OpenCode calls every export as a plugin)", () => {
    assert.deepEqual(Object.keys(entry), ["default"])
    assert.equal(typeof entry.default, "function")
  })
})

describe("createShim", () => {
  it("initializes the core with OpenCode's URL, directory, worktree and password", async () => {
    const record = join(tempDir(), "record.jsonl")
    const { core, directory } = shim({ command: fakeCoreCommand("--record", record) }, { OPENCODE_SERVER_PASSWORD: "s3cret" })
    await core.whenReady(5_000)
    const initialize = recorded(record)[0]
    assert.equal(initialize?.method, "initialize")
    assert.deepEqual(initialize?.params, {
      protocolVersion: "1",
      clientInfo: { name: "opencode-orchestrator-shim", version: "0.1.0" },
      serverUrl: "http://127.0.0.1:4096",
      directory,
      worktree: directory,
      password: "s3cret",
    })
  })

  it("sends no password when none is set", async () => {
    const record = join(tempDir(), "record.jsonl")
    const { core } = shim({ command: fakeCoreCommand("--record", record) })
    await core.whenReady(5_000)
    assert.equal("password" in (recorded(record)[0]?.params ?? {}), false)
  })

  it("registers the commands and the core's agents from the config hook", async () => {
    const { hooks } = shim({ command: fakeCoreCommand() })
    const config: { command?: Record<string, unknown>; agent?: Record<string, unknown> } = {
      agent: { reviewer: { model: "mine/model" } },
    }
    await hooks.config?.(config as never)
    assert.deepEqual(Object.keys(config.command ?? {}).sort(), ["extreme-mission", "mission-cancel", "mission-resume", "mission-status"])
    assert.deepEqual(Object.keys(config.agent ?? {}).sort(), ["master-reviewer", "planner", "reviewer", "worker"])
    assert.deepEqual(config.agent?.reviewer, {
      description: "Reviews one unit (fake)",
      prompt: "You review.",
      mode: "subagent",
      model: "mine/model",
    })
  })

  it("still registers the commands when the core cannot start, and does not hold OpenCode", async () => {
    const { hooks, log } = shim({ command: fakeCoreCommand("--exit-at-start"), startupTimeoutMs: 2_000, maxRestarts: 1 })
    const config: { command?: Record<string, unknown>; agent?: Record<string, unknown> } = {}
    await hooks.config?.(config as never)
    assert.ok(config.command?.["extreme-mission"])
    assert.equal(config.agent, undefined)
    assert.ok(log.has("error", "could not get the mission agents"))
  })

  it("runs /extreme-mission through the core and shows progress as a toast", async () => {
    const record = join(tempDir(), "record.jsonl")
    const { hooks, ui } = shim({ command: fakeCoreCommand("--record", record, "--progress") })
    const output = { parts: [{ type: "text", text: "template" }] }
    const before = hooks["command.execute.before"]
    assert.ok(before)
    const error = await rejectionOf(before({ command: "extreme-mission", sessionID: "ses_p", arguments: "ship it" }, output as never))
    assert.equal(error.name, "CommandHandledError")
    const start = recorded(record).find((message) => message.method === "mission/start")
    assert.deepEqual(start?.params, { goal: "ship it", parentSessionId: "ses_p" })
    assert.match(ui.posts[0]?.text ?? "", /^Mission m-fake-1 started: ship it/)
    await waitFor(() => ui.toasts.length > 0, 5_000, "the progress toast")
    assert.deepEqual(ui.toasts[0], { message: "Mission m-fake-1: planning iteration 1", variant: "info", title: "Mission m-fake-1" })
  })

  it("refuses a write outside the scope with the core's reason", async () => {
    const { hooks } = shim({ command: fakeCoreCommand() })
    const before = hooks["tool.execute.before"]
    assert.ok(before)
    await before({ tool: "edit", sessionID: "ses_w", callID: "c1" }, { args: { filePath: "src/ok.ts" } })
    const refusal = await rejectionOf(before({ tool: "write", sessionID: "ses_w", callID: "c2" }, { args: { filePath: "forbidden.txt" } }))
    assert.match(refusal.message, /^FAKE-SCOPE: forbidden.txt is outside unit u1's scope/)
  })

  it("toasts once when it gives up on the core", async () => {
    const { core, ui } = shim({ command: fakeCoreCommand("--exit-at-start"), maxRestarts: 2 })
    await waitFor(() => core.state === "failed", 10_000, "giving up")
    assert.equal(ui.toasts.length, 1)
    assert.equal(ui.toasts[0]?.variant, "error")
    assert.match(ui.toasts[0]?.message ?? "", /is not restarted again/)
  })

  it("stops the core on dispose", async () => {
    const record = join(tempDir(), "record.jsonl")
    const { hooks, core } = shim({ command: fakeCoreCommand("--record", record) })
    await core.whenReady(5_000)
    await hooks.dispose?.()
    assert.equal(core.state, "stopped")
    assert.deepEqual(recorded(record).slice(-2).map((message) => message.method), ["shutdown", "exit"])
  })
})
