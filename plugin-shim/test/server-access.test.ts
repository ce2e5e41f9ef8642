// How the core reaches OpenCode: the choice between serverUrl and the proxy,
// the health probe behind "auto", and the proxy's life in ServerAccess.

import assert from "node:assert/strict"
import { createServer } from "node:http"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, describe, it } from "node:test"

import { basicAuthorization } from "../src/proxy.ts"
import type { Upstream } from "../src/proxy.ts"
import { PLACEHOLDER_SERVER_URL, ServerAccess, decideAccess, probeHealth } from "../src/server-access.ts"
import type { Probe, ProbeResult, ServerAccessMode } from "../src/server-access.ts"
import { MemoryLogger } from "./helpers.ts"

const cleanups: (() => Promise<void> | void)[] = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> {
  const server: Server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

/** A URL where nothing listens (a port just freed). */
async function closedUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}/`
}

function recordingProbe(result: ProbeResult) {
  const calls: { url: string; authorization: string | undefined }[] = []
  const probe: Probe = async (url, authorization) => {
    calls.push({ url, authorization })
    return result
  }
  return { probe, calls }
}

const upstream: Upstream = {
  baseUrl: "http://localhost:4096",
  authorization: undefined,
  describe: "the client's fetch (in-process)",
  fetch: async (request) => new Response(JSON.stringify({ path: new URL(request.url).pathname })),
}

describe("decideAccess", () => {
  const decide = (mode: ServerAccessMode, serverUrl: string, probe: Probe, canProxy = true, password?: string) =>
    decideAccess({ mode, serverUrl, canProxy, password, probe, probeTimeoutMs: 100 })

  it('"direct" and "proxy" are obeyed without probing', async () => {
    const { probe, calls } = recordingProbe({ ok: false, detail: "down" })
    assert.equal((await decide("direct", "http://127.0.0.1:1/", probe)).mode, "direct")
    assert.equal((await decide("proxy", "http://127.0.0.1:1/", probe)).mode, "proxy")
    assert.equal(calls.length, 0)
  })

  it('"auto" goes direct when serverUrl answers the probe, asked as the core would ask', async () => {
    const { probe, calls } = recordingProbe({ ok: true, detail: "GET .../global/health answered 200 in 3 ms" })
    const decision = await decide("auto", "http://127.0.0.1:4096/", probe, true, "server-pw")
    assert.equal(decision.mode, "direct")
    assert.match(decision.reason, /answered 200/)
    assert.deepEqual(calls, [{ url: "http://127.0.0.1:4096/", authorization: basicAuthorization("opencode", "server-pw") }])
  })

  it('"auto" takes the proxy when serverUrl does not answer', async () => {
    const { probe } = recordingProbe({ ok: false, detail: "GET .../global/health failed after 1 ms: ECONNREFUSED" })
    const decision = await decide("auto", "http://127.0.0.1:4096/", probe)
    assert.equal(decision.mode, "proxy")
    assert.match(decision.reason, /not reachable.*ECONNREFUSED/)
  })

  it('"auto" takes the proxy for OpenCode\'s placeholder URL without probing it (another server may listen there)', async () => {
    const { probe, calls } = recordingProbe({ ok: true, detail: "some other OpenCode" })
    const decision = await decide("auto", PLACEHOLDER_SERVER_URL, probe)
    assert.equal(decision.mode, "proxy")
    assert.match(decision.reason, /placeholder/)
    assert.equal(calls.length, 0)
  })

  it("goes direct when the client offers no fetch to proxy through", async () => {
    const { probe } = recordingProbe({ ok: false, detail: "down" })
    assert.equal((await decide("auto", PLACEHOLDER_SERVER_URL, probe, false)).mode, "direct")
    assert.equal((await decide("proxy", PLACEHOLDER_SERVER_URL, probe, false)).mode, "direct")
  })
})

describe("probeHealth", () => {
  it("is ok for OpenCode's health answer, and sends the Authorization it is given", async () => {
    const seen: (string | undefined)[] = []
    const url = await listen((request, response) => {
      seen.push(request.headers.authorization)
      assert.equal(request.url, "/global/health")
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({ healthy: true, version: "1.18.33" }))
    })
    const result = await probeHealth(url, "Basic eA==", 1_000)
    assert.equal(result.ok, true, result.detail)
    assert.deepEqual(seen, ["Basic eA=="])
  })

  it("is not ok for a 401 (the core's password would not do)", async () => {
    const url = await listen((_request, response) => {
      response.writeHead(401)
      response.end()
    })
    const result = await probeHealth(url, undefined, 1_000)
    assert.equal(result.ok, false)
    assert.match(result.detail, /answered 401/)
  })

  it("is not ok for a server that is not OpenCode", async () => {
    const url = await listen((_request, response) => {
      response.writeHead(200, { "content-type": "text/html" })
      response.end("<html>hello</html>")
    })
    assert.equal((await probeHealth(url, undefined, 1_000)).ok, false)
  })

  it("is not ok where nothing listens, and says why", async () => {
    const result = await probeHealth(await closedUrl(), undefined, 1_000)
    assert.equal(result.ok, false)
    // Node's fetch says ECONNREFUSED, Bun's (OpenCode's) ConnectionRefused.
    assert.match(result.detail, /ECONNREFUSED|ConnectionRefused/)
  })

  it("gives up after the timeout on a server that never answers", async () => {
    const url = await listen(() => {})
    const started = Date.now()
    const result = await probeHealth(url, undefined, 200)
    assert.equal(result.ok, false)
    assert.match(result.detail, /no answer in time/)
    assert.ok(Date.now() - started < 2_000)
  })
})

describe("ServerAccess", () => {
  function access(mode: ServerAccessMode, probe: Probe, options: { password?: string; upstream?: Upstream | undefined } = {}) {
    const log = new MemoryLogger()
    let serverUrl = "http://127.0.0.1:4096/"
    const created = new ServerAccess({
      mode,
      serverUrl: () => serverUrl,
      upstream: () => ("upstream" in options ? options.upstream : upstream),
      password: options.password,
      log,
      probe,
    })
    cleanups.push(() => created.close())
    return {
      access: created,
      log,
      setServerUrl: (url: string) => {
        serverUrl = url
      },
    }
  }

  it("auto, probe failing: starts the proxy once, gives its URL and password, and logs why", async () => {
    const { probe, calls } = recordingProbe({ ok: false, detail: "GET http://127.0.0.1:4096/global/health failed after 0 ms: ECONNREFUSED" })
    const { access: chosen, log } = access("auto", probe, { password: "server-pw" })
    const first = await chosen.endpoint()
    const second = await chosen.endpoint()
    assert.deepEqual(first, second)
    assert.equal(calls.length, 1)
    assert.match(first.serverUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.notEqual(first.password, "server-pw")
    assert.ok(first.password && first.password.length >= 32)
    const record = log.records.find((entry) => entry.message === "server access: proxy")
    assert.ok(record)
    assert.match(String(record.fields?.reason), /not reachable.*ECONNREFUSED/)
    const response = await fetch(`${first.serverUrl}/session?directory=%2Ftmp`, {
      headers: { authorization: basicAuthorization("opencode", first.password ?? "") },
    })
    assert.deepEqual(await response.json(), { path: "/session" })
  })

  it("auto, probe succeeding: serverUrl and OpenCode's password, read afresh each time", async () => {
    const { probe } = recordingProbe({ ok: true, detail: "GET http://127.0.0.1:4096/global/health answered 200 in 2 ms" })
    const { access: chosen, log, setServerUrl } = access("auto", probe, { password: "server-pw" })
    assert.deepEqual(await chosen.endpoint(), { serverUrl: "http://127.0.0.1:4096/", password: "server-pw" })
    setServerUrl("http://127.0.0.1:5000/")
    assert.deepEqual(await chosen.endpoint(), { serverUrl: "http://127.0.0.1:5000/", password: "server-pw" })
    assert.equal(chosen.runningProxy, undefined)
    assert.ok(log.has("info", "server access: direct"))
  })

  it("close() closes the proxy and frees its port", async () => {
    const { probe } = recordingProbe({ ok: false, detail: "down" })
    const { access: chosen, log } = access("proxy", probe)
    const { serverUrl } = await chosen.endpoint()
    await chosen.close()
    await assert.rejects(fetch(`${serverUrl}/session`))
    assert.ok(log.has("info", "closed the proxy"))
  })

  it("falls back to serverUrl when the proxy cannot start", async () => {
    const log = new MemoryLogger()
    const chosen = new ServerAccess({
      mode: "proxy",
      serverUrl: () => "http://localhost:4096/",
      upstream: () => upstream,
      password: undefined,
      log,
      startProxy: async () => {
        throw new Error("EADDRINUSE")
      },
    })
    assert.deepEqual(await chosen.endpoint(), { serverUrl: "http://localhost:4096/", password: undefined })
    assert.ok(log.has("error", "could not start the proxy"))
    await chosen.close()
  })

  it("warns when the proxy is asked for but the client has no fetch", async () => {
    const { probe } = recordingProbe({ ok: false, detail: "down" })
    const { access: chosen, log } = access("proxy", probe, { upstream: undefined })
    assert.equal((await chosen.endpoint()).serverUrl, "http://127.0.0.1:4096/")
    assert.ok(log.has("warn", "server access: direct"))
  })
})
