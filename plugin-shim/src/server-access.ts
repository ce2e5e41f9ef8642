// How the core reaches OpenCode's HTTP server: at OpenCode's own `serverUrl`
// ("direct"), or through the shim's loopback proxy (proxy.ts) into the server
// this plugin runs in ("proxy"). Decided once per plugin instance, before the
// first `initialize`; the proxy, when started, lives until dispose.
//
// `serverAccess` option:
//   "auto" (default): proxy when `serverUrl` is OpenCode 1.18.33's placeholder
//     for "no listening server" (http://localhost:4096/, the TUI without
//     --port) or does not answer `GET /global/health` within a short timeout
//     as the core would ask (with the core's user and password); direct otherwise.
//   "direct": always `serverUrl` (the shim's behaviour before the proxy).
//   "proxy": always the proxy.
// The placeholder is not probed: another OpenCode listening on port 4096 (the
// user's other project, say) would answer, and the core would drive the wrong
// server. A real server at exactly that address is proxied, which also works.

import type { Logger } from "./log.ts"
import { PROXY_USER, basicAuthorization, startProxy as startLoopbackProxy } from "./proxy.ts"
import type { ProxyOptions, RunningProxy, Upstream } from "./proxy.ts"
import { asError, isObject } from "./rpc.ts"

export const SERVER_ACCESS_MODES = ["auto", "direct", "proxy"] as const
export type ServerAccessMode = (typeof SERVER_ACCESS_MODES)[number]

/** `serverUrl` of OpenCode 1.18.33 when its server does not listen: `Server.url ?? new URL("http://localhost:4096")`. */
export const PLACEHOLDER_SERVER_URL = "http://localhost:4096/"

export const DEFAULT_PROBE_TIMEOUT_MS = 1_500

export interface ProbeResult {
  ok: boolean
  /** What happened, for the log. */
  detail: string
}

/** Asks `GET <url>/global/health`; ok when it answers 2xx with `healthy: true` within `timeoutMs`. */
export type Probe = (url: string, authorization: string | undefined, timeoutMs: number) => Promise<ProbeResult>

export const probeHealth: Probe = async (url, authorization, timeoutMs) => {
  const target = new URL("global/health", url.endsWith("/") ? url : `${url}/`).href
  const started = Date.now()
  try {
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization }
    const response = await fetch(target, { headers, signal: AbortSignal.timeout(timeoutMs) })
    const elapsed = Date.now() - started
    if (!response.ok) {
      await response.body?.cancel()
      return { ok: false, detail: `GET ${target} answered ${response.status} in ${elapsed} ms` }
    }
    const body: unknown = await response.json().catch(() => undefined)
    if (!isObject(body) || body.healthy !== true) {
      return { ok: false, detail: `GET ${target} answered ${response.status} but not as OpenCode's health check` }
    }
    return { ok: true, detail: `GET ${target} answered ${response.status} in ${elapsed} ms` }
  } catch (error) {
    return { ok: false, detail: `GET ${target} failed after ${Date.now() - started} ms: ${describeFetchError(error)}` }
  }
}

export interface AccessDecision {
  mode: "direct" | "proxy"
  reason: string
}

export interface DecideOptions {
  mode: ServerAccessMode
  serverUrl: string
  /** Whether the plugin's client offers a fetch the proxy can forward to. */
  canProxy: boolean
  /** The password the core would send (OpenCode's, when set). */
  password: string | undefined
  probe: Probe
  probeTimeoutMs: number
}

export async function decideAccess(options: DecideOptions): Promise<AccessDecision> {
  const { mode, serverUrl } = options
  if (mode === "direct") return { mode: "direct", reason: 'the option serverAccess is "direct"' }
  if (!options.canProxy) {
    return { mode: "direct", reason: `the plugin's client offers no fetch to proxy through (serverAccess "${mode}")` }
  }
  if (mode === "proxy") return { mode: "proxy", reason: 'the option serverAccess is "proxy"' }
  if (serverUrl === PLACEHOLDER_SERVER_URL) {
    return {
      mode: "proxy",
      reason: `serverUrl ${serverUrl} is OpenCode's placeholder for a server that does not listen (the TUI without --port)`,
    }
  }
  const authorization = options.password ? basicAuthorization(PROXY_USER, options.password) : undefined
  const probe = await options.probe(serverUrl, authorization, options.probeTimeoutMs)
  if (probe.ok) return { mode: "direct", reason: `serverUrl is reachable: ${probe.detail}` }
  return { mode: "proxy", reason: `serverUrl is not reachable: ${probe.detail}` }
}

/** Where the core is told to find OpenCode (`initialize`'s `serverUrl` and `password`). */
export interface ServerEndpoint {
  serverUrl: string
  password: string | undefined
}

export interface ServerAccessOptions {
  mode: ServerAccessMode
  /** OpenCode's serverUrl; read at each call (OpenCode exposes it as a getter). */
  serverUrl: () => string
  /** The plugin client's fetch; undefined when it has none the proxy can use. */
  upstream: () => Upstream | undefined
  /** OpenCode's password ($OPENCODE_SERVER_PASSWORD), passed on in direct mode. */
  password: string | undefined
  log: Logger
  probe?: Probe
  probeTimeoutMs?: number
  startProxy?: (options: ProxyOptions) => Promise<RunningProxy>
}

export class ServerAccess {
  private readonly options: ServerAccessOptions
  private decision: Promise<RunningProxy | undefined> | undefined
  private proxy: RunningProxy | undefined
  private closed = false

  constructor(options: ServerAccessOptions) {
    this.options = options
  }

  /** The proxy, once started (for tests and the log). */
  get runningProxy(): RunningProxy | undefined {
    return this.proxy
  }

  /** Decides (once) and starts the proxy if needed; never rejects: a failure falls back to direct. */
  async endpoint(): Promise<ServerEndpoint> {
    this.decision ??= this.decide()
    const proxy = await this.decision
    if (proxy !== undefined && !this.closed) return { serverUrl: proxy.url, password: proxy.password }
    return { serverUrl: this.options.serverUrl(), password: this.options.password || undefined }
  }

  /** Closes the proxy, if any (dispose). */
  async close(): Promise<void> {
    this.closed = true
    const proxy = await this.decision
    if (proxy === undefined) return
    await proxy.close()
    this.options.log.info("closed the proxy to OpenCode", { url: proxy.url })
  }

  private async decide(): Promise<RunningProxy | undefined> {
    const { log } = this.options
    const serverUrl = this.options.serverUrl()
    let upstream: Upstream | undefined
    try {
      upstream = this.options.upstream()
    } catch (error) {
      log.warn("could not read the plugin client's fetch", { error: asError(error).message })
    }
    const decision = await decideAccess({
      mode: this.options.mode,
      serverUrl,
      canProxy: upstream !== undefined,
      password: this.options.password || undefined,
      probe: this.options.probe ?? probeHealth,
      probeTimeoutMs: this.options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
    })
    if (decision.mode === "direct" || upstream === undefined) {
      const level = this.options.mode === "proxy" ? "warn" : "info"
      log[level]("server access: direct", { serverUrl, reason: decision.reason })
      return undefined
    }
    if (this.closed) return undefined
    try {
      const proxy = await (this.options.startProxy ?? startLoopbackProxy)({ upstream, log })
      this.proxy = proxy
      log.info("server access: proxy", { proxyUrl: proxy.url, upstream: upstream.describe, serverUrl, reason: decision.reason })
      if (this.closed) await proxy.close()
      return proxy
    } catch (error) {
      log.error("could not start the proxy to OpenCode; the core gets serverUrl as it is", {
        serverUrl,
        reason: decision.reason,
        error: asError(error).message,
      })
      return undefined
    }
  }
}

/** fetch() says "fetch failed" and keeps the reason (ECONNREFUSED...) in `cause`. */
function describeFetchError(error: unknown): string {
  const failure = asError(error)
  if (failure.name === "TimeoutError") return "no answer in time"
  const cause = (failure as { cause?: unknown }).cause
  if (isObject(cause) && typeof cause.code === "string") return cause.code
  if (cause instanceof Error) return cause.message
  const code = (failure as { code?: unknown }).code
  return typeof code === "string" ? `${code}: ${failure.message}` : failure.message
}
