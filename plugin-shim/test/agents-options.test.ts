// Agent merging and option parsing: small pure functions.

import assert from "node:assert/strict"
import { describe, it } from "node:test"

import { mergeAgents } from "../src/agents.ts"
import { CORE_OPTION_KEYS, DEFAULT_OPTIONS, parseOptions } from "../src/options.ts"

const CORE_AGENTS = {
  planner: { description: "Plans", prompt: "You plan.", mode: "subagent" },
  worker: { description: "Works", prompt: "You work.", mode: "subagent" },
}

describe("mergeAgents", () => {
  it("adds the core's agents to an empty config", () => {
    const config: { agent?: Record<string, unknown> } = {}
    assert.deepEqual(mergeAgents(config, CORE_AGENTS), ["planner", "worker"])
    assert.deepEqual(config.agent, CORE_AGENTS)
  })

  it("lets the user's own fields win, keeps the rest of ours, and leaves other agents alone", () => {
    const config = {
      agent: {
        worker: { model: "anthropic/claude-sonnet", prompt: "My own worker prompt." },
        planner: { disable: true },
        build: { model: "x/y" },
      } as Record<string, unknown>,
    }
    mergeAgents(config, CORE_AGENTS)
    assert.deepEqual(config.agent.worker, {
      description: "Works",
      prompt: "My own worker prompt.",
      mode: "subagent",
      model: "anthropic/claude-sonnet",
    })
    assert.deepEqual(config.agent.planner, { description: "Plans", prompt: "You plan.", mode: "subagent", disable: true })
    assert.deepEqual(config.agent.build, { model: "x/y" })
  })

  it("does not copy our object by reference (OpenCode may mutate its config)", () => {
    const config: { agent?: Record<string, unknown> } = {}
    mergeAgents(config, CORE_AGENTS)
    assert.notEqual(config.agent?.planner, CORE_AGENTS.planner)
  })
})

describe("parseOptions", () => {
  it("defaults to `opencode-orchestrator serve`", () => {
    const { options, warnings } = parseOptions(undefined)
    assert.deepEqual(options.command, ["opencode-orchestrator", "serve"])
    assert.deepEqual(warnings, [])
  })

  it("takes the command the installer writes", () => {
    const command = ["/usr/bin/python3", "-m", "opencode_orchestrator", "serve"]
    const { options } = parseOptions({ command, logFile: "/tmp/shim.log", scopeTimeoutMs: 100 })
    assert.deepEqual(options.command, command)
    assert.equal(options.logFile, "/tmp/shim.log")
    assert.equal(options.scopeTimeoutMs, 100)
  })

  it("reports bad and unknown options and keeps the defaults", () => {
    const { options, warnings } = parseOptions({ command: "opencode-orchestrator serve", maxRestarts: -1, colour: "red" })
    assert.deepEqual(options.command, DEFAULT_OPTIONS.command)
    assert.equal(options.maxRestarts, DEFAULT_OPTIONS.maxRestarts)
    assert.equal(warnings.length, 3)
    assert.ok(warnings.some((warning) => warning.includes('"colour"')))
    // The core reads the same options object and refuses a key it does not know.
    const unknown = warnings.find((warning) => warning.includes('"colour"')) ?? ""
    assert.match(unknown, /the core will refuse the configuration/)
    assert.doesNotMatch(unknown, /ignored/)
  })

  it("leaves the core's configuration keys to the core, without a warning", () => {
    const raw = { command: ["opencode-orchestrator", "serve"], limits: { concurrency: 4 }, wal: { fsync: "interval" }, checks: ["npm test"] }
    const { options, warnings } = parseOptions(raw)
    assert.deepEqual(warnings, [])
    assert.deepEqual(options.command, raw.command)
    assert.ok(!("limits" in options))
    for (const key of CORE_OPTION_KEYS) assert.ok(!(key in DEFAULT_OPTIONS), key)
  })

  it('takes serverAccess "auto" (the default), "direct" or "proxy", and nothing else', () => {
    assert.equal(parseOptions(undefined).options.serverAccess, "auto")
    for (const mode of ["auto", "direct", "proxy"]) {
      const { options, warnings } = parseOptions({ serverAccess: mode })
      assert.equal(options.serverAccess, mode)
      assert.deepEqual(warnings, [])
    }
    const { options, warnings } = parseOptions({ serverAccess: "tunnel" })
    assert.equal(options.serverAccess, "auto")
    assert.match(warnings[0] ?? "", /serverAccess.*"auto", "direct", "proxy"/)
  })
})
