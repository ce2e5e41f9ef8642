// The slash commands against a scripted core: what is called, what the user sees.

import assert from "node:assert/strict"
import { describe, it } from "node:test"

import { COMMANDS, CommandHandledError, createCommandHandler, registerCommands } from "../src/commands.ts"
import type { CoreCaller } from "../src/core-process.ts"
import { CoreUnavailableError } from "../src/core-process.ts"
import { RpcError, RpcTimeoutError } from "../src/rpc.ts"
import { MemoryLogger, RecordingUi, rejectionOf } from "./helpers.ts"

type Answer = unknown | Error

class ScriptedCore implements CoreCaller {
  readonly calls: { method: string; params: unknown }[] = []
  readonly answers: Record<string, Answer>

  constructor(answers: Record<string, Answer>) {
    this.answers = answers
  }

  async call<T>(method: string, params?: unknown): Promise<T> {
    this.calls.push({ method, params })
    const answer = this.answers[method]
    if (answer instanceof Error) throw answer
    return answer as T
  }
}

function setup(answers: Record<string, Answer>) {
  const core = new ScriptedCore(answers)
  const ui = new RecordingUi()
  const handler = createCommandHandler({ core, ui, log: new MemoryLogger(), requestTimeoutMs: 1_000 })
  const run = async (command: string, args: string) => {
    const output = { parts: [{ type: "text", text: `TEMPLATE ${args}` }] as unknown[] }
    const original = output.parts
    const error = await rejectionOf(handler({ command, sessionID: "ses_parent", arguments: args }, output))
    assert.equal(output.parts, original, "the array OpenCode holds is edited in place, not replaced")
    return { error, parts: output.parts }
  }
  return { core, ui, run }
}

describe("command.execute.before", () => {
  it("starts a mission from the invoking session, posts the confirmation, and stops the command", async () => {
    const { core, ui, run } = setup({
      "mission/start": { missionId: "m42", state: "PLANNING", directory: "/p", message: "Mission m42 started: add a CLI" },
    })
    const { error, parts } = await run("extreme-mission", "  add a CLI  ")
    assert.deepEqual(core.calls, [{ method: "mission/start", params: { goal: "add a CLI", parentSessionId: "ses_parent" } }])
    const text = "Mission m42 started: add a CLI\nFollow it with /mission-status m42; stop it with /mission-cancel m42."
    assert.deepEqual(parts, [{ type: "text", text }])
    assert.deepEqual(ui.posts, [{ sessionID: "ses_parent", text }])
    assert.deepEqual(ui.toasts, [])
    assert.ok(error instanceof CommandHandledError)
    assert.match(error.message, /\/extreme-mission was handled by the plugin: Mission m42 started/)
  })

  it("passes an optional mission id to status, cancel and resume", async () => {
    const { core, ui, run } = setup({
      "mission/status": { missions: [], text: "m1 RUNNING 2/5 units" },
      "mission/cancel": { missionId: "m1", state: "CANCELLED", message: "Mission m1 cancelled" },
      "mission/resume": { missionId: "m1", state: "RUNNING", message: "Mission m1 resumed" },
    })
    await run("mission-status", "")
    await run("mission-cancel", "m1")
    await run("mission-resume", " m1 extra words ")
    assert.deepEqual(core.calls, [
      { method: "mission/status", params: { sessionId: "ses_parent" } },
      { method: "mission/cancel", params: { missionId: "m1" } },
      { method: "mission/resume", params: { missionId: "m1" } },
    ])
    assert.deepEqual(
      ui.posts.map((post) => post.text),
      ["m1 RUNNING 2/5 units", "Mission m1 cancelled", "Mission m1 resumed"],
    )
  })

  it("posts /mission-status's table into the session, asking for this session's mission", async () => {
    const table = "### Mission m1 — RUNNING\n| Unit | State |\n|---|---|\n| a | VERIFIED |"
    const { core, ui, run } = setup({ "mission/status": { missions: [], text: table, missionId: "m1" } })
    const { error } = await run("mission-status", "")
    await run("mission-status", "m0")
    assert.deepEqual(core.calls, [
      { method: "mission/status", params: { sessionId: "ses_parent" } },
      { method: "mission/status", params: { missionId: "m0", sessionId: "ses_parent" } },
    ])
    assert.deepEqual(ui.posts[0], { sessionID: "ses_parent", text: table })
    assert.deepEqual(ui.toasts, [])
    assert.ok(error instanceof CommandHandledError)
  })

  it("shows the core's error as text in the session", async () => {
    const { ui, run } = setup({ "mission/cancel": new RpcError(-33003, "No mission is running in /p") })
    const { parts, error } = await run("mission-cancel", "")
    assert.deepEqual(parts, [{ type: "text", text: "⚠ /mission-cancel failed: No mission is running in /p" }])
    assert.equal(ui.posts[0]?.text, "⚠ /mission-cancel failed: No mission is running in /p")
    assert.ok(error instanceof CommandHandledError)
  })

  it("explains a core that is down, and a start that timed out", async () => {
    const { ui, run } = setup({
      "mission/status": new CoreUnavailableError("failed", "the orchestrator core stopped working (see /log)"),
      "mission/start": new RpcTimeoutError("mission/start", 1_000),
    })
    await run("mission-status", "")
    await run("extreme-mission", "goal")
    assert.equal(ui.posts[0]?.text, "⚠ /mission-status failed: the orchestrator core stopped working (see /log)")
    assert.match(ui.posts[1]?.text ?? "", /did not answer mission\/start within 1000 ms\. The mission may have started anyway/)
  })

  it("answers an empty goal with the usage, without calling the core", async () => {
    const { core, ui, run } = setup({})
    await run("extreme-mission", "   ")
    assert.deepEqual(core.calls, [])
    assert.match(ui.posts[0]?.text ?? "", /Usage: \/extreme-mission <goal>/)
  })

  it("takes the goal without the quotes it was typed in, and an empty quoted goal is no goal", async () => {
    const { core, ui, run } = setup({
      "mission/start": { missionId: "m1", state: "PLANNING", directory: "/p", message: "Mission m1 started" },
    })
    await run("extreme-mission", ' "add a --verbose flag" ')
    await run("extreme-mission", '""')
    await run("extreme-mission", "'  '")
    await run("extreme-mission", 'say "hi" to the user')
    assert.deepEqual(
      core.calls.map((call) => (call.params as { goal: string }).goal),
      ["add a --verbose flag", 'say "hi" to the user'],
    )
    assert.match(ui.posts[1]?.text ?? "", /Usage: \/extreme-mission <goal>/)
    assert.match(ui.posts[2]?.text ?? "", /Usage: \/extreme-mission <goal>/)
  })

  it("reports an answer of the wrong shape instead of showing undefined", async () => {
    const { ui, run } = setup({ "mission/start": { missionId: "m1" } })
    await run("extreme-mission", "goal")
    assert.match(ui.posts[0]?.text ?? "", /unexpected answer from the orchestrator core to mission\/start: no string "message"/)
  })

  it("falls back to a toast when the session cannot be posted to", async () => {
    const { ui, run } = setup({ "mission/cancel": new RpcError(-33003, "nothing to cancel") })
    ui.postSucceeds = false
    await run("mission-cancel", "")
    assert.deepEqual(ui.toasts, [{ message: "⚠ /mission-cancel failed: nothing to cancel", variant: "error", title: "/mission-cancel" }])
  })

  it("leaves other commands alone", async () => {
    const core = new ScriptedCore({})
    const handler = createCommandHandler({ core, ui: new RecordingUi(), log: new MemoryLogger(), requestTimeoutMs: 1_000 })
    const output = { parts: [{ type: "text", text: "review this" }] as unknown[] }
    await handler({ command: "review", sessionID: "s", arguments: "" }, output)
    assert.deepEqual(output.parts, [{ type: "text", text: "review this" }])
    assert.deepEqual(core.calls, [])
  })
})

describe("registerCommands", () => {
  it("adds the four commands with a description and a template", () => {
    const config: { command?: Record<string, unknown> } = {}
    registerCommands(config)
    assert.deepEqual(Object.keys(config.command ?? {}).sort(), Object.keys(COMMANDS).sort())
    assert.deepEqual(Object.keys(COMMANDS).sort(), ["extreme-mission", "mission-cancel", "mission-resume", "mission-status"])
    const mission = config.command?.["extreme-mission"] as { description: string; template: string }
    assert.match(mission.template, /\$ARGUMENTS/)
    assert.ok(mission.description.length > 0)
  })

  it("keeps the fields of a user's own definition", () => {
    const config = { command: { "mission-status": { description: "mine" }, review: { template: "x" } } }
    registerCommands(config)
    const status = config.command["mission-status"] as { description: string; template: string }
    assert.equal(status.description, "mine")
    assert.match(status.template, /opencode-orchestrator/)
    assert.deepEqual(config.command.review, { template: "x" })
  })
})
