// The loopback proxy: what it forwards, that it streams, that it wants its
// password, and that it stops. The upstream is either a function answering
// like OpenCode's in-process server (the TUI case) or the real SDK client over
// the network to a local HTTP server (the `opencode serve` case).

import assert from "node:assert/strict"
import { request as httpRequest } from "node:http"
import type { IncomingHttpHeaders, IncomingMessage } from "node:http"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, describe, it } from "node:test"

import { createOpencodeClient } from "@opencode-ai/sdk"

import { basicAuthorization, clientUpstream, startProxy } from "../src/proxy.ts"
import type { RunningProxy, Upstream } from "../src/proxy.ts"
import { MemoryLogger, waitFor } from "./helpers.ts"

const PASSWORD = "proxy-secret"
const AUTH = basicAuthorization("opencode", PASSWORD)

const cleanups: (() => Promise<void> | void)[] = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Seen {
  method: string
  url: string
  headers: Record<string, string>
  body: string
  signal: AbortSignal
}

/** An upstream that records each request and answers with `answer(request)`. */
function fakeUpstream(answer: (request: Request) => Response | Promise<Response>, authorization?: string) {
  const seen: Seen[] = []
  const upstream: Upstream = {
    baseUrl: "http://localhost:4096",
    authorization,
    describe: "fake",
    fetch: async (request) => {
      const headers: Record<string, string> = {}
      request.headers.forEach((value, name) => {
        headers[name] = value
      })
      seen.push({ method: request.method, url: request.url, headers, body: await request.text(), signal: request.signal })
      return answer(request)
    },
  }
  return { upstream, seen }
}

async function proxyFor(upstream: Upstream): Promise<{ proxy: RunningProxy; log: MemoryLogger }> {
  const log = new MemoryLogger()
  const proxy = await startProxy({ upstream, log, password: PASSWORD })
  cleanups.push(() => proxy.close())
  return { proxy, log }
}

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** One request with node:http (what the core's httpx does: a plain HTTP/1.1 client). */
function send(url: string, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${url}${options.path ?? "/"}`, { method: options.method ?? "GET", headers: options.headers ?? {} }, (response) => {
      const chunks: Buffer[] = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }))
      response.on("error", reject)
    })
    request.on("error", reject)
    request.end(options.body)
  })
}

/** Opens a streaming GET and collects what arrives, chunk by chunk. */
function open(url: string, path: string, headers: Record<string, string> = { authorization: AUTH }) {
  const chunks: string[] = []
  let ended = false
  let failed = false
  let response: IncomingMessage | undefined
  const request = httpRequest(`${url}${path}`, { headers }, (incoming) => {
    response = incoming
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk.toString()))
    incoming.on("end", () => {
      ended = true
    })
    incoming.on("error", () => {
      failed = true
    })
  })
  request.on("error", () => {
    failed = true
  })
  request.end()
  return {
    chunks,
    get ended() {
      return ended
    },
    get failed() {
      return failed
    },
    get response() {
      return response
    },
    destroy: () => request.destroy(),
  }
}

/** A body the test writes to, one chunk at a time, and that records its cancellation. */
function controlledBody() {
  const encoder = new TextEncoder()
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined
  let cancelled = false
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
    },
    cancel() {
      cancelled = true
    },
  })
  return {
    stream,
    push: (text: string) => controller?.enqueue(encoder.encode(text)),
    end: () => controller?.close(),
    get cancelled() {
      return cancelled
    },
  }
}

describe("the proxy", () => {
  it("listens on 127.0.0.1 only, on a port of its own", async () => {
    const { proxy } = await proxyFor(fakeUpstream(() => new Response("")).upstream)
    assert.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(proxy.password, PASSWORD)
  })

  it("makes up a long random password when given none", async () => {
    const log = new MemoryLogger()
    const { upstream } = fakeUpstream(() => new Response(""))
    const first = await startProxy({ upstream, log })
    const second = await startProxy({ upstream, log })
    cleanups.push(() => first.close(), () => second.close())
    assert.ok(first.password.length >= 32)
    assert.notEqual(first.password, second.password)
  })

  it("forwards the method, path, query, headers and body, and answers with the upstream's status, headers and body", async () => {
    const { upstream, seen } = fakeUpstream(
      () => new Response(JSON.stringify({ id: "msg_1" }), { status: 201, headers: { "content-type": "application/json", "x-answer": "yes" } }),
      "Basic b3BlbmNvZGU6c2VydmVyLXBhc3N3b3Jk",
    )
    const { proxy } = await proxyFor(upstream)
    const body = JSON.stringify({ parts: [{ type: "text", text: "héllo" }], noReply: true })
    const answer = await send(proxy.url, {
      method: "POST",
      path: "/session/ses_1/message?directory=%2Ftmp%2Fmy%20project&flag=true",
      headers: {
        authorization: AUTH,
        "content-type": "application/json",
        "x-opencode-directory": "%2Ftmp%2Fother",
        "x-custom": "kept",
        "accept-encoding": "gzip",
      },
      body,
    })
    assert.equal(answer.status, 201)
    assert.equal(answer.headers["x-answer"], "yes")
    assert.equal(answer.headers["content-type"], "application/json")
    assert.deepEqual(JSON.parse(answer.body), { id: "msg_1" })
    assert.equal(seen.length, 1)
    const forwarded = seen[0]
    assert.ok(forwarded)
    assert.equal(forwarded.method, "POST")
    assert.equal(forwarded.url, "http://localhost:4096/session/ses_1/message?directory=%2Ftmp%2Fmy%20project&flag=true")
    assert.equal(forwarded.body, body)
    assert.equal(forwarded.headers["content-type"], "application/json")
    assert.equal(forwarded.headers["x-opencode-directory"], "%2Ftmp%2Fother")
    assert.equal(forwarded.headers["x-custom"], "kept")
    // The proxy's password stays with the proxy; OpenCode gets its own credentials.
    assert.equal(forwarded.headers.authorization, "Basic b3BlbmNvZGU6c2VydmVyLXBhc3N3b3Jk")
    assert.equal(forwarded.headers["accept-encoding"], "identity")
    assert.equal(forwarded.headers.host, undefined)
  })

  it("sends no Authorization upstream when OpenCode has no password", async () => {
    const { upstream, seen } = fakeUpstream(() => new Response("[]"))
    const { proxy } = await proxyFor(upstream)
    const answer = await send(proxy.url, { path: "/session", headers: { authorization: AUTH } })
    assert.equal(answer.status, 200)
    assert.equal(seen[0]?.headers.authorization, undefined)
    assert.equal(seen[0]?.method, "GET")
  })

  it("forwards methods without a body, and a body-less answer", async () => {
    const { upstream, seen } = fakeUpstream(() => new Response(null, { status: 204 }))
    const { proxy } = await proxyFor(upstream)
    const answer = await send(proxy.url, { method: "DELETE", path: "/session/ses_2", headers: { authorization: AUTH } })
    assert.equal(answer.status, 204)
    assert.equal(answer.body, "")
    assert.equal(seen[0]?.method, "DELETE")
    assert.equal(seen[0]?.body, "")
  })

  it("streams: each chunk reaches the client while the upstream's answer is still open", async () => {
    const body = controlledBody()
    const { upstream } = fakeUpstream(() => new Response(body.stream, { headers: { "content-type": "text/event-stream" } }))
    const { proxy } = await proxyFor(upstream)
    const stream = open(proxy.url, "/event?directory=%2Ftmp")
    // Headers first, before any event: an SSE client must see the stream open.
    await waitFor(() => stream.response !== undefined, 5_000, "the response headers")
    assert.equal(stream.response?.headers["content-type"], "text/event-stream")
    body.push('data: {"type":"server.connected","properties":{}}\n\n')
    await waitFor(() => stream.chunks.join("").includes("server.connected"), 5_000, "the first event")
    assert.equal(stream.ended, false)
    body.push('data: {"type":"session.created","properties":{}}\n\n')
    await waitFor(() => stream.chunks.join("").includes("session.created"), 5_000, "the second event")
    assert.equal(stream.ended, false)
    body.end()
    await waitFor(() => stream.ended, 5_000, "the end of the stream")
    assert.equal(
      stream.chunks.join(""),
      'data: {"type":"server.connected","properties":{}}\n\ndata: {"type":"session.created","properties":{}}\n\n',
    )
  })

  it("cancels the upstream stream and aborts its request when the client goes away", async () => {
    const body = controlledBody()
    const { upstream, seen } = fakeUpstream(() => new Response(body.stream, { headers: { "content-type": "text/event-stream" } }))
    const { proxy } = await proxyFor(upstream)
    const stream = open(proxy.url, "/event")
    body.push("data: {}\n\n")
    await waitFor(() => stream.chunks.length > 0, 5_000, "the first chunk")
    stream.destroy()
    await waitFor(() => body.cancelled, 5_000, "the upstream body to be cancelled")
    assert.equal(seen[0]?.signal.aborted, true)
    await waitFor(() => proxy.active === 0, 5_000, "no request in flight")
  })

  for (const [what, headers] of [
    ["no password", {}],
    ["a wrong password", { authorization: basicAuthorization("opencode", "guess") }],
    ["another user", { authorization: basicAuthorization("admin", PASSWORD) }],
    ["another scheme", { authorization: `Bearer ${PASSWORD}` }],
  ] as const) {
    it(`answers 401 to a request with ${what}, and forwards nothing`, async () => {
      const { upstream, seen } = fakeUpstream(() => new Response("secret"))
      const { proxy } = await proxyFor(upstream)
      const answer = await send(proxy.url, { method: "POST", path: "/session", headers: { ...headers }, body: "{}" })
      assert.equal(answer.status, 401)
      assert.match(String(answer.headers["www-authenticate"]), /^Basic /)
      assert.equal(JSON.parse(answer.body).data.message, "unauthorized")
      assert.equal(seen.length, 0)
    })
  }

  it("answers 502 with the reason when the upstream fails", async () => {
    const { upstream } = fakeUpstream(() => {
      throw new Error("the server is gone")
    })
    const { proxy, log } = await proxyFor(upstream)
    const answer = await send(proxy.url, { path: "/session", headers: { authorization: AUTH } })
    assert.equal(answer.status, 502)
    assert.match(JSON.parse(answer.body).data.message, /the server is gone/)
    assert.ok(log.has("warn", "the request to OpenCode failed"))
  })

  it("close() ends the open streams, cancels them upstream and frees the port", async () => {
    const body = controlledBody()
    const { upstream } = fakeUpstream((request) =>
      request.url.endsWith("/event") ? new Response(body.stream, { headers: { "content-type": "text/event-stream" } }) : new Response("[]"),
    )
    const log = new MemoryLogger()
    const proxy = await startProxy({ upstream, log, password: PASSWORD })
    cleanups.push(() => proxy.close())
    const stream = open(proxy.url, "/event")
    body.push("data: {}\n\n")
    await waitFor(() => stream.chunks.length > 0, 5_000, "the first chunk")
    const idle = await send(proxy.url, { path: "/session", headers: { authorization: AUTH } }) // a kept-alive idle connection
    assert.equal(idle.status, 200)
    await proxy.close()
    await waitFor(() => stream.ended || stream.failed, 5_000, "the stream to end")
    await waitFor(() => body.cancelled, 5_000, "the upstream body to be cancelled")
    await assert.rejects(send(proxy.url, { path: "/session", headers: { authorization: AUTH } }), /ECONNREFUSED/)
    await proxy.close() // twice is harmless
  })
})

describe("clientUpstream", () => {
  it("takes the fetch, base URL and Authorization of the SDK client OpenCode gives plugins", async () => {
    const calls: string[] = []
    const client = createOpencodeClient({
      baseUrl: "http://localhost:4096",
      directory: "/tmp/project",
      headers: { Authorization: "Basic c2VydmVy" },
      fetch: async (request: Request) => {
        calls.push(request.url)
        return new Response("{}")
      },
    })
    const upstream = clientUpstream(client)
    assert.ok(upstream)
    assert.equal(upstream.baseUrl, "http://localhost:4096")
    assert.equal(upstream.authorization, "Basic c2VydmVy")
    await upstream.fetch(new Request("http://localhost:4096/session"))
    assert.deepEqual(calls, ["http://localhost:4096/session"])
  })

  it("is undefined for anything else", () => {
    assert.equal(clientUpstream(undefined), undefined)
    assert.equal(clientUpstream({}), undefined)
    assert.equal(clientUpstream({ _client: { getConfig: () => "nope" } }), undefined)
  })

  it("proxies to a server on the network through the SDK client's own fetch (opencode serve)", async () => {
    const seen: { method: string; url: string; authorization: string | undefined; body: string }[] = []
    const server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        seen.push({
          method: request.method ?? "",
          url: request.url ?? "",
          authorization: request.headers.authorization,
          body: Buffer.concat(chunks).toString(),
        })
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify({ ok: true }))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    const client = createOpencodeClient({ baseUrl: base, directory: "/tmp/project", headers: { Authorization: "Basic c2VydmVy" } })
    const upstream = clientUpstream(client)
    assert.ok(upstream)
    const { proxy } = await proxyFor(upstream)
    const answer = await send(proxy.url, {
      method: "POST",
      path: "/session?directory=%2Ftmp%2Fproject",
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: '{"title":"t"}',
    })
    assert.equal(answer.status, 200)
    assert.deepEqual(JSON.parse(answer.body), { ok: true })
    assert.deepEqual(seen, [{ method: "POST", url: "/session?directory=%2Ftmp%2Fproject", authorization: "Basic c2VydmVy", body: '{"title":"t"}' }])
  })
})
