// The assembled plugin against the fake core process: the hooks as OpenCode calls them.

import assert from "node:assert/strict"
import { join } from "node:path"
import { afterEach, describe, it } from "node:test"

import * as entry from "../src/index.ts"
import { readFileSync } from "node:fs"

import { createShim } from "../src/plugin.ts"
import type { Shim, ShimContext } from "../src/plugin.ts"
import type { Upstream } from "../src/proxy.ts"
import type { Probe } from "../src/server-access.ts"
import { MemoryLogger, RecordingUi, fakeCoreCommand, recorded, rejectionOf, tempDir, waitFor } from "./helpers.ts"

const shims: Shim[] = []

afterEach(async () => {
  await Promise.all(shims.splice(0).map((shim) => shim.hooks.dispose?.()))
})

function shim(options: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, extra: Partial<ShimContext> = {}) {
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
      ...extra,
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

  it("runs /extreme-mission through the core and shows progress as the core says: toast, post", async () => {
    const record = join(tempDir(), "record.jsonl")
    const { hooks, ui } = shim({ command: fakeCoreCommand("--record", record, "--progress", "--progress-post") })
    const output = { parts: [{ type: "text", text: "template" }] }
    const before = hooks["command.execute.before"]
    assert.ok(before)
    const error = await rejectionOf(before({ command: "extreme-mission", sessionID: "ses_p", arguments: "ship it" }, output as never))
    assert.equal(error.name, "CommandHandledError")
    const start = recorded(record).find((message) => message.method === "mission/start")
    assert.deepEqual(start?.params, { goal: "ship it", parentSessionId: "ses_p" })
    await waitFor(() => ui.toasts.length > 1 && ui.posts.length > 1, 5_000, "the progress toasts and post")
    // The command's reply and the core's progress post go out independently: either may land first.
    const running = "Mission m-fake-1: plan accepted, 2 units; workers running"
    const [reply, post] = ui.posts[0]?.text === running ? [ui.posts[1], ui.posts[0]] : [ui.posts[0], ui.posts[1]]
    assert.match(reply?.text ?? "", /^Mission m-fake-1 started: ship it/)
    assert.deepEqual(ui.toasts[0], { message: "Mission m-fake-1: planning iteration 1", variant: "info", title: "Mission m-fake-1" })
    assert.deepEqual(ui.toasts[1], { message: running, variant: "info", title: "Mission m-fake-1" })
    // The first notification has no post field: a toast only. The second is posted too.
    assert.deepEqual(post, { sessionID: "ses_p", text: running })
    assert.equal(ui.posts.length, 2)
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

/**
 * OpenCode's server as the plugin's client reaches it in the TUI: a function
 * from Request to Response. Enough of it for the fake core's --probe-server:
 * health, sessions, and an event stream that announces created sessions.
 */
function inProcessOpenCode(password?: string) {
  const encoder = new TextEncoder()
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>()
  const sessions: { id: string; title: string }[] = []
  const requests: string[] = []
  const send = (event: object) => {
    for (const stream of streams) stream.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`))
  }
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })
  const upstream: Upstream = {
    baseUrl: "http://localhost:4096",
    authorization: password === undefined ? undefined : `Basic ${Buffer.from(`opencode:${password}`).toString("base64")}`,
    describe: "in-process (fake)",
    fetch: async (request) => {
      const url = new URL(request.url)
      requests.push(`${request.method} ${url.pathname}`)
      if (upstream.authorization !== undefined && request.headers.get("authorization") !== upstream.authorization) {
        return json({ error: "OpenCode wants its own password" }, 401)
      }
      if (url.pathname === "/global/health") return json({ healthy: true, version: "1.18.33" })
      if (url.pathname === "/session" && request.method === "GET") return json(sessions)
      if (url.pathname === "/session" && request.method === "POST") {
        const body = (await request.json()) as { title: string }
        const info = { id: `ses_${sessions.length + 1}`, title: body.title }
        sessions.push(info)
        send({ type: "session.created", properties: { info } })
        return json(info)
      }
      if (url.pathname === "/event") {
        let mine: ReadableStreamDefaultController<Uint8Array> | undefined
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            mine = controller
            streams.add(controller)
            controller.enqueue(encoder.encode(`data: ${JSON.stringify({ type: "server.connected", properties: {} })}\n\n`))
          },
          cancel() {
            if (mine) streams.delete(mine)
          },
        })
        return new Response(body, { headers: { "content-type": "text/event-stream" } })
      }
      return json({ error: "not found" }, 404)
    },
  }
  return { upstream, sessions, requests, openStreams: () => streams.size }
}

interface ProbeReport {
  serverUrl: string
  password: boolean
  health?: { status: number }
  sessions?: { status: number }
  created?: { status: number; body: { id: string } }
  withoutPassword?: { status: number }
  sawCreated: boolean
  eventTypes: string[]
  eventStream?: { status: number; contentType: string }
}

describe("server access", () => {
  it('"proxy": the core gets the proxy\'s URL and its own password, and reaches OpenCode through the client\'s fetch', async () => {
    const dir = tempDir()
    const record = join(dir, "record.jsonl")
    const report = join(dir, "probe.json")
    const opencode = inProcessOpenCode("server-password")
    const { core, hooks, log, access } = shim(
      { command: fakeCoreCommand("--record", record, "--probe-server", report), serverAccess: "proxy" },
      { OPENCODE_SERVER_PASSWORD: "server-password" },
      { upstream: () => opencode.upstream },
    )
    await core.whenReady(5_000)
    const params = recorded(record)[0]?.params ?? {}
    const proxyUrl = access.runningProxy?.url
    assert.ok(proxyUrl)
    assert.equal(params.serverUrl, proxyUrl)
    assert.equal(params.password, access.runningProxy?.password)
    assert.notEqual(params.password, "server-password")
    await waitFor(() => recorded(report).length > 0, 10_000, "the fake core's report")
    const seen = JSON.parse(readFileSync(report, "utf8")) as ProbeReport
    assert.equal(seen.health?.status, 200)
    assert.equal(seen.sessions?.status, 200)
    assert.equal(seen.created?.status, 200)
    assert.equal(seen.withoutPassword?.status, 401)
    assert.deepEqual(seen.eventStream, { status: 200, contentType: "text/event-stream" })
    assert.equal(seen.sawCreated, true)
    assert.deepEqual(seen.eventTypes, ["server.connected", "session.created"])
    assert.deepEqual(opencode.sessions, [{ id: "ses_1", title: "probe through the shim" }])
    assert.ok(log.has("info", "server access: proxy"))
    await waitFor(() => opencode.openStreams() === 0, 5_000, "the core's event stream to be closed upstream")
    await hooks.dispose?.()
    await assert.rejects(fetch(`${proxyUrl}/session`))
  })

  it('"auto": serverUrl when it answers the probe, the proxy when it does not', async () => {
    const answering: Probe = async () => ({ ok: true, detail: "answered 200" })
    const silent: Probe = async () => ({ ok: false, detail: "ECONNREFUSED" })
    const opencode = inProcessOpenCode()
    const direct = join(tempDir(), "record.jsonl")
    const proxied = join(tempDir(), "record.jsonl")
    const first = shim({ command: fakeCoreCommand("--record", direct) }, {}, { upstream: () => opencode.upstream, probe: answering })
    const second = shim({ command: fakeCoreCommand("--record", proxied) }, {}, { upstream: () => opencode.upstream, probe: silent })
    await Promise.all([first.core.whenReady(5_000), second.core.whenReady(5_000)])
    assert.equal(recorded(direct)[0]?.params?.serverUrl, "http://127.0.0.1:4096")
    assert.equal("password" in (recorded(direct)[0]?.params ?? {}), false)
    assert.equal(first.access.runningProxy, undefined)
    assert.equal(recorded(proxied)[0]?.params?.serverUrl, second.access.runningProxy?.url)
    assert.equal(typeof recorded(proxied)[0]?.params?.password, "string")
  })

  it("keeps the proxy, URL and password the same when the core restarts", async () => {
    const dir = tempDir()
    const record = join(dir, "record.jsonl")
    const opencode = inProcessOpenCode()
    const { core } = shim(
      { command: fakeCoreCommand("--record", record, "--counter", join(dir, "runs"), "--crash-runs", "1"), serverAccess: "proxy" },
      {},
      { upstream: () => opencode.upstream },
    )
    await waitFor(() => core.spawnCount === 2 && core.state === "ready", 10_000, "the restarted core")
    const initializes = recorded(record).filter((message) => message.method === "initialize")
    assert.equal(initializes.length, 2)
    assert.deepEqual(initializes[1]?.params, initializes[0]?.params)
  })
})
