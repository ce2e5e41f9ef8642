// A loopback HTTP proxy in front of the OpenCode server this plugin runs in,
// reached through the `fetch` of the SDK client OpenCode hands the plugin.
//
// Why: in the TUI started without `--port`, OpenCode 1.18.33 runs its server
// without listening anywhere; `serverUrl` is then a placeholder
// (http://localhost:4096/) and the plugin's client calls the server in process
// (`fetch: (...args) => Server.Default().app.fetch(...args)`). The core is
// another process and speaks HTTP, so the shim listens on 127.0.0.1 (random
// port) and forwards every request there: method, path, query, headers, body,
// and the response as it comes, unbuffered (SSE included).
//
// Transport only: no request is read, changed or refused for what it means.
// The proxy checks its own basic-auth password (user `opencode`, a random
// secret passed to the core in `initialize`), replaces that Authorization by
// the client's own (OpenCode's password, when it has one), and asks for an
// unencoded answer (fetch decodes compressed bodies but keeps the headers).
//
// node:http, not Bun.serve: OpenCode's Bun runs it, and so does Node 20 for the
// unit tests; tests/real runs it inside OpenCode's Bun.

import { randomBytes, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import type { IncomingMessage, IncomingHttpHeaders, OutgoingHttpHeaders, Server, ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"

import type { Logger } from "./log.ts"
import { asError, isObject } from "./rpc.ts"

/** The user name of the proxy's basic auth (the core's client always sends it). */
export const PROXY_USER = "opencode"

/** Where the proxy forwards to: the plugin client's fetch and what it adds to each request. */
export interface Upstream {
  fetch: (request: Request) => Promise<Response>
  /** The client's base URL, e.g. "http://localhost:4096" (ignored by the in-process server, which routes on the path). */
  baseUrl: string
  /** The client's Authorization header (OpenCode's password), if it has one. */
  authorization: string | undefined
  /** How the client reaches the server, for the log: "in-process" or the base URL. */
  describe: string
}

/**
 * The fetch, base URL and Authorization of the SDK client OpenCode gives the
 * plugin (`input.client`): a v1 `OpencodeClient` whose `_client.getConfig()`
 * holds them. Undefined when the client does not look like that (another SDK).
 */
export function clientUpstream(client: unknown): Upstream | undefined {
  const inner = isObject(client) ? client._client : undefined
  if (!isObject(inner) || typeof inner.getConfig !== "function") return undefined
  let config: unknown
  try {
    config = (inner.getConfig as () => unknown).call(inner)
  } catch {
    return undefined
  }
  if (!isObject(config)) return undefined
  const baseUrl = typeof config.baseUrl === "string" && config.baseUrl !== "" ? config.baseUrl : "http://localhost:4096"
  const configured = typeof config.fetch === "function" ? (config.fetch as (request: Request) => Promise<Response>) : undefined
  let authorization: string | undefined
  try {
    authorization = new Headers(config.headers as ConstructorParameters<typeof Headers>[0]).get("authorization") ?? undefined
  } catch {
    authorization = undefined
  }
  return {
    fetch: configured ?? ((request) => globalThis.fetch(request)),
    baseUrl,
    authorization,
    describe: configured === undefined ? baseUrl : `the client's fetch (base URL ${baseUrl})`,
  }
}

export interface ProxyOptions {
  upstream: Upstream
  log: Logger
  /** Default: a random secret. */
  password?: string
  /** Default 0: a free port chosen by the system. */
  port?: number
}

export interface RunningProxy {
  /** e.g. http://127.0.0.1:43123 (no trailing slash). */
  readonly url: string
  readonly password: string
  /** Requests being answered now (streams included). */
  readonly active: number
  /** Stops listening, ends the streams in flight, and resolves once the port is closed. */
  close(): Promise<void>
}

/** Headers of one hop only (RFC 9110 7.6.1), never forwarded, and the ones the proxy sets itself. */
const REQUEST_SKIP = new Set([
  "authorization",
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "accept-encoding",
  "expect",
])
const RESPONSE_SKIP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  // fetch has decoded the body already; its length is that of the encoded one.
  "content-encoding",
  "content-length",
])

export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`
}

export function randomPassword(): string {
  return randomBytes(24).toString("base64url")
}

/** Starts the proxy on 127.0.0.1; rejects if it cannot listen. */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const password = options.password ?? randomPassword()
  const expected = Buffer.from(basicAuthorization(PROXY_USER, password))
  const { upstream, log } = options
  const sockets = new Set<Socket>()
  const inFlight = new Set<AbortController>()
  let closing = false

  const server: Server = createServer((request, response) => {
    void forward(request, response)
  })
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  // A client error (a malformed request, a reset) concerns that connection only.
  server.on("clientError", (error, socket) => {
    log.debug("proxy: client error", { error: error.message })
    socket.destroy()
  })

  const authorized = (header: string | undefined): boolean => {
    if (header === undefined) return false
    const given = Buffer.from(header)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  async function forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (closing) {
      reply(response, 503, "the proxy is closing")
      return
    }
    if (!authorized(request.headers.authorization)) {
      // Drain what the client sent, so it reads the 401 instead of a reset.
      request.resume()
      response.setHeader("www-authenticate", 'Basic realm="opencode-orchestrator"')
      reply(response, 401, "unauthorized")
      return
    }
    const abort = new AbortController()
    inFlight.add(abort)
    // The client went away (closed an SSE stream, timed out): stop the upstream work too.
    // Node says so with the response's "close"; Bun 1.3's node:http does not, but
    // emits the request's "aborted" and the socket's "close". (Aborting once the
    // answer is complete is harmless.)
    const gone = (): void => abort.abort()
    const socket = request.socket as Socket | undefined
    response.on("close", gone)
    request.on("aborted", gone)
    socket?.on("close", gone)
    try {
      const method = request.method ?? "GET"
      const body = method === "GET" || method === "HEAD" ? undefined : await readBody(request)
      const target = upstream.baseUrl.replace(/\/+$/, "") + (request.url ?? "/")
      const headers = requestHeaders(request.headers)
      if (upstream.authorization !== undefined) headers.set("authorization", upstream.authorization)
      const init: RequestInit = { method, headers, signal: abort.signal, redirect: "manual" }
      if (body !== undefined && body.length > 0) init.body = body
      const answer = await upstream.fetch(new Request(target, init))
      await relay(answer, response, abort.signal)
    } catch (error) {
      if (abort.signal.aborted) {
        response.destroy()
      } else if (!response.headersSent) {
        log.warn("proxy: the request to OpenCode failed", { method: request.method, path: pathOf(request.url), error: asError(error).message })
        reply(response, 502, `the request to OpenCode failed: ${asError(error).message}`)
      } else {
        // Mid-stream: all the client can be told is that the answer broke off.
        log.warn("proxy: the answer from OpenCode broke off", { path: pathOf(request.url), error: asError(error).message })
        response.destroy()
      }
    } finally {
      inFlight.delete(abort)
      // A kept-alive socket serves more requests: do not pile listeners on it.
      socket?.off("close", gone)
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    // 127.0.0.1 only: the proxy must never be reachable from another machine.
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject)
      resolve()
    })
  })
  server.on("error", (error) => log.error("proxy: server error", { error: error.message }))
  const address = server.address() as AddressInfo
  const url = `http://127.0.0.1:${address.port}`

  let closed: Promise<void> | undefined
  return {
    url,
    password,
    get active() {
      return inFlight.size
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing = true
        for (const abort of inFlight) abort.abort()
        server.close(() => resolve())
        // Idle keep-alive connections and open streams would hold close() forever.
        for (const socket of sockets) socket.destroy()
      })
      return closed
    },
  }
}

function requestHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers()
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || REQUEST_SKIP.has(name)) continue
    if (Array.isArray(value)) for (const item of value) headers.append(name, item)
    else headers.set(name, value)
  }
  // Bodies pass through as they are: no compression to undo on either side.
  headers.set("accept-encoding", "identity")
  return headers
}

function responseHeaders(answer: Response): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {}
  answer.headers.forEach((value, name) => {
    if (!RESPONSE_SKIP.has(name) && name !== "set-cookie") headers[name] = value
  })
  const cookies = answer.headers.getSetCookie()
  if (cookies.length > 0) headers["set-cookie"] = cookies
  return headers
}

/** Writes the answer's status and headers at once, then each chunk of its body as it arrives. */
async function relay(answer: Response, response: ServerResponse, signal: AbortSignal): Promise<void> {
  if (answer.statusText) response.writeHead(answer.status, answer.statusText, responseHeaders(answer))
  else response.writeHead(answer.status, responseHeaders(answer))
  // An SSE client must see the headers before the first event, which may be long.
  response.flushHeaders()
  const body = answer.body
  if (body === null) {
    response.end()
    return
  }
  const reader = body.getReader()
  const cancel = (): void => {
    reader.cancel().catch(() => {})
  }
  signal.addEventListener("abort", cancel, { once: true })
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (signal.aborted) return
      if (!response.write(value)) await drained(response, signal)
    }
    response.end()
  } finally {
    signal.removeEventListener("abort", cancel)
    reader.releaseLock()
  }
}

function drained(response: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      response.off("drain", done)
      signal.removeEventListener("abort", done)
      resolve()
    }
    response.on("drain", done)
    signal.addEventListener("abort", done, { once: true })
  })
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })
}

/** The proxy's own answers (401, 502, 503), shaped like OpenCode's errors. */
function reply(response: ServerResponse, status: number, message: string): void {
  if (response.headersSent) {
    response.destroy()
    return
  }
  const body = JSON.stringify({ name: "OrchestratorProxyError", data: { message } })
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
  response.end(body)
}

/** The path without the query (which may hold a directory name), for the log. */
function pathOf(url: string | undefined): string {
  return (url ?? "/").split("?")[0] ?? "/"
}
