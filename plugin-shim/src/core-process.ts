// The core as a child process: spawn, initialize, restart with backoff when it
// dies, give up after too many deaths, and stop it politely.
//
// The core keeps every mission in a write-ahead log and resumes unfinished ones
// when it is initialized again, so restarting it is how a crash heals: the shim
// only has to bring a process back and repeat `initialize`/`initialized`.
// Restarts are bounded (a core that cannot start, e.g. a broken Python
// environment, must not be respawned forever); past the bound the shim says
// so once, loudly, and every later call fails with the same explanation.

import { spawn as nodeSpawn } from "node:child_process"
import type { ChildProcessWithoutNullStreams } from "node:child_process"

import type { Logger } from "./log.ts"
import { ConnectionClosedError, JsonRpcConnection, LineDecoder, asError, isObject } from "./rpc.ts"
import type { RequestOptions } from "./rpc.ts"

export type CoreState = "idle" | "starting" | "ready" | "restarting" | "failed" | "stopping" | "stopped"

export type SpawnFunction = (
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
) => ChildProcessWithoutNullStreams

export interface RestartPolicy {
  /** Delay before the first restart; doubled for each further restart in the window. */
  initialDelayMs: number
  maxDelayMs: number
  /** Restarts allowed within `windowMs`; one more death and the shim gives up. */
  maxRestarts: number
  windowMs: number
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 250,
  maxDelayMs: 30_000,
  maxRestarts: 5,
  windowMs: 10 * 60_000,
}

export interface CoreProcessOptions {
  /** argv of the core, e.g. ["opencode-orchestrator", "serve"]. */
  command: readonly string[]
  cwd: string
  env: NodeJS.ProcessEnv
  /** Called for every `initialize` (each restart re-initializes); may wait (the shim's server access). */
  initializeParams: () => object | Promise<object>
  log: Logger
  requestTimeoutMs?: number
  /** How long one start may take, from spawn to the answer to `initialize`. */
  initializeTimeoutMs?: number
  restart?: Partial<RestartPolicy>
  /** After `shutdown`+`exit`, and again after SIGTERM, before escalating. */
  stopGraceMs?: number
  onNotification?: (method: string, params: unknown) => void
  /** Called once when restarts are exhausted, with a message for the user. */
  onGiveUp?: (message: string) => void
  /** Called after each successful (re)initialization. */
  onReady?: (result: unknown, generation: number) => void
  spawn?: SpawnFunction
}

/** What the hooks need of the core: calls (tests give a fake). */
export interface CoreCaller {
  call<T = unknown>(method: string, params?: unknown, options?: RequestOptions): Promise<T>
}

/** The core cannot take calls now; the message says why and what to do. */
export class CoreUnavailableError extends Error {
  readonly state: CoreState

  constructor(state: CoreState, message: string) {
    super(message)
    this.name = "CoreUnavailableError"
    this.state = state
  }
}

interface Waiter {
  resolve: () => void
  reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout> | undefined
}

interface Generation {
  id: number
  child: ChildProcessWithoutNullStreams
  connection: JsonRpcConnection
  exited: boolean
  dead: boolean
  lastStderr: string
  /** Why `initialize` failed, when it did (the process is then killed). */
  initFailure: string
}

export class CoreProcess implements CoreCaller {
  private readonly options: CoreProcessOptions
  private readonly policy: RestartPolicy
  private readonly spawnFn: SpawnFunction
  private current: Generation | undefined
  private generationCount = 0
  private stateValue: CoreState = "idle"
  private readonly waiters = new Set<Waiter>()
  private restartTimes: number[] = []
  private restartTimer: ReturnType<typeof setTimeout> | undefined
  private lastFailure = ""
  private giveUpMessage = ""

  constructor(options: CoreProcessOptions) {
    this.options = options
    this.policy = { ...DEFAULT_RESTART_POLICY, ...options.restart }
    this.spawnFn = options.spawn ?? ((command, args, spawnOptions) =>
      nodeSpawn(command, args, { ...spawnOptions, stdio: ["pipe", "pipe", "pipe"] }))
    if (options.command.length === 0) throw new Error("the core command is empty")
  }

  get state(): CoreState {
    return this.stateValue
  }

  /** How many processes were spawned so far (the first one included). */
  get spawnCount(): number {
    return this.generationCount
  }

  get pid(): number | undefined {
    return this.current?.child.pid
  }

  /** Spawns the first process; returns at once (use {@link whenReady} to wait). */
  start(): void {
    if (this.stateValue !== "idle") return
    this.spawnGeneration("starting")
  }

  /**
   * Resolves once the core is initialized. Waits through a restart; rejects at
   * once when the shim has given up or stopped, and after `timeoutMs` otherwise.
   */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.stateValue === "ready") return Promise.resolve()
    const unavailable = this.unavailableError()
    if (this.isFinal()) return Promise.reject(unavailable)
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined }
      waiter.timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(this.unavailableError())
      }, timeoutMs)
      this.waiters.add(waiter)
    })
  }

  /**
   * Calls a core method. Waits for a (re)starting core within the same timeout.
   * Never retried by the shim: mission/start is not idempotent, and the user
   * is better told that the core died mid-call than surprised by a double.
   */
  async call<T = unknown>(method: string, params?: unknown, options: RequestOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? 30_000
    const started = Date.now()
    if (this.stateValue !== "ready") await this.whenReady(timeoutMs)
    const generation = this.current
    if (!generation) throw this.unavailableError()
    const remaining = Math.max(1, timeoutMs - (Date.now() - started))
    return generation.connection.request<T>(method, params, { timeoutMs: remaining })
  }

  /** Describes why calls cannot be made now (for errors and refusals). */
  unavailableError(): CoreUnavailableError {
    const where = `Its log: ${this.options.log.location}`
    switch (this.stateValue) {
      case "failed":
        return new CoreUnavailableError("failed", this.giveUpMessage)
      case "stopping":
      case "stopped":
        return new CoreUnavailableError(this.stateValue, "the orchestrator core has been stopped (OpenCode is shutting down)")
      case "restarting":
        return new CoreUnavailableError(
          "restarting",
          `the orchestrator core exited (${this.lastFailure}) and is being restarted; try again in a few seconds. ${where}`,
        )
      default:
        return new CoreUnavailableError(this.stateValue, `the orchestrator core is still starting; try again in a few seconds. ${where}`)
    }
  }

  /**
   * Stops the core: `shutdown` then `exit` (the core then stops its missions
   * the resumable way), SIGTERM after a grace period, SIGKILL after another.
   */
  async stop(): Promise<void> {
    if (this.stateValue === "stopped" || this.stateValue === "stopping") return
    this.stateValue = "stopping"
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer)
    this.restartTimer = undefined
    this.rejectWaiters()
    const generation = this.current
    if (!generation || generation.exited) {
      this.stateValue = "stopped"
      return
    }
    const grace = this.options.stopGraceMs ?? 2_000
    const exited = this.exitOf(generation)
    let acknowledged = false
    try {
      await generation.connection.request("shutdown", undefined, { timeoutMs: grace })
      acknowledged = true
      generation.connection.notify("exit")
      generation.child.stdin.end()
    } catch (error) {
      this.options.log.warn("the core did not accept shutdown", { error: asError(error).message })
    }
    // A core that did not even answer shutdown gets no second grace period.
    if (!(acknowledged && (await withTimeout(exited, grace)))) {
      this.options.log.warn("the core did not stop after shutdown; sending SIGTERM", { pid: generation.child.pid })
      generation.child.kill("SIGTERM")
      if (!(await withTimeout(exited, grace))) {
        this.options.log.error("the core ignored SIGTERM; sending SIGKILL", { pid: generation.child.pid })
        generation.child.kill("SIGKILL")
        await withTimeout(exited, grace)
      }
    }
    generation.connection.close(new ConnectionClosedError("the orchestrator core has been stopped"))
    this.stateValue = "stopped"
  }

  private isFinal(): boolean {
    return this.stateValue === "failed" || this.stateValue === "stopping" || this.stateValue === "stopped"
  }

  private spawnGeneration(state: "starting" | "restarting"): void {
    this.stateValue = state
    const [command, ...args] = this.options.command as [string, ...string[]]
    const id = ++this.generationCount
    this.options.log.info("starting the core", { command: this.options.command, generation: id })
    let child: ChildProcessWithoutNullStreams
    try {
      child = this.spawnFn(command, args, { cwd: this.options.cwd, env: this.options.env })
    } catch (error) {
      // Some spawn failures throw instead of emitting "error" (e.g. a bad cwd).
      this.lastFailure = `could not start: ${asError(error).message}`
      this.afterDeath()
      return
    }
    const generation: Generation = {
      id,
      child,
      connection: new JsonRpcConnection({
        send: (line) => {
          child.stdin.write(`${line}\n`)
        },
        log: this.options.log,
        ...(this.options.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.options.requestTimeoutMs } : {}),
        ...(this.options.onNotification ? { onNotification: this.options.onNotification } : {}),
      }),
      exited: false,
      dead: false,
      lastStderr: "",
      initFailure: "",
    }
    this.current = generation
    this.wire(generation)
    void this.initialize(generation)
  }

  private wire(generation: Generation): void {
    const { child, connection } = generation
    const stdout = new LineDecoder({
      onOverlong: (length) => this.options.log.warn("dropped an overlong line from the core", { length }),
    })
    const stderr = new LineDecoder({ maxLineChars: 1024 * 1024 })
    let stdoutEnded = false
    let exitDescription = ""
    let fallback: ReturnType<typeof setTimeout> | undefined
    const finish = (): void => {
      if (fallback !== undefined) clearTimeout(fallback)
      this.onDeath(generation, exitDescription)
    }
    child.stdout.on("data", (chunk: Buffer) => {
      for (const line of stdout.push(chunk)) connection.handleLine(line)
    })
    child.stdout.on("end", () => {
      for (const line of stdout.end()) connection.handleLine(line)
      stdoutEnded = true
      if (generation.exited) finish()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      for (const line of stderr.push(chunk)) this.stderrLine(generation, line)
    })
    child.stderr.on("end", () => {
      for (const line of stderr.end()) this.stderrLine(generation, line)
    })
    // A write to a core that just died fails with EPIPE; its exit is handled below.
    child.stdin.on("error", (error) => {
      this.options.log.debug("writing to the core failed", { error: error.message })
    })
    child.on("error", (error) => {
      if (child.pid === undefined) {
        // Never started (ENOENT, EACCES...): there will be no "exit".
        generation.exited = true
        exitDescription = `could not start \`${this.options.command.join(" ")}\`: ${error.message}`
        finish()
        return
      }
      this.options.log.warn("core process error", { error: error.message })
    })
    child.on("exit", (code, signal) => {
      generation.exited = true
      exitDescription = signal ? `killed by ${signal}` : `exit code ${code}`
      // Answers written just before the exit may still be in the pipe: wait for
      // stdout to end (bounded, a grandchild could hold it open) before failing
      // what is pending.
      if (stdoutEnded) finish()
      else fallback = setTimeout(finish, 500)
    })
  }

  private stderrLine(generation: Generation, line: string): void {
    if (line.trim() === "") return
    generation.lastStderr = line
    this.options.log.core(line)
  }

  private async initialize(generation: Generation): Promise<void> {
    try {
      const params = await this.options.initializeParams()
      if (generation !== this.current || generation.dead) return
      const result = await generation.connection.request("initialize", params, {
        timeoutMs: this.options.initializeTimeoutMs ?? 30_000,
      })
      if (generation !== this.current || generation.dead) return
      if (isObject(result) && result.protocolVersion !== "1") {
        this.options.log.warn("the core speaks another protocol version", { protocolVersion: result.protocolVersion })
      }
      generation.connection.notify("initialized")
      if (this.stateValue !== "starting" && this.stateValue !== "restarting") return
      this.stateValue = "ready"
      this.options.log.info("the core is ready", { pid: generation.child.pid, generation: generation.id })
      for (const waiter of this.waiters) {
        if (waiter.timer !== undefined) clearTimeout(waiter.timer)
        waiter.resolve()
      }
      this.waiters.clear()
      this.options.onReady?.(result, generation.id)
    } catch (error) {
      if (generation !== this.current || generation.dead || error instanceof ConnectionClosedError) return
      // Alive but unable to initialize: treat as a death, so backoff and the bound apply.
      this.options.log.error("the core did not initialize; killing it", { error: asError(error).message })
      generation.initFailure = `initialize failed: ${asError(error).message}`
      generation.child.kill("SIGKILL")
    }
  }

  private onDeath(generation: Generation, description: string): void {
    if (generation.dead) return
    generation.dead = true
    const stderrHint = generation.lastStderr ? `; last stderr line: ${truncate(generation.lastStderr, 300)}` : ""
    generation.connection.close(new ConnectionClosedError(`the orchestrator core exited (${description}) before answering`))
    if (generation !== this.current || this.stateValue === "stopping" || this.stateValue === "stopped") return
    this.lastFailure = [generation.initFailure, `${description}${stderrHint}`].filter(Boolean).join("; ")
    this.options.log.error("the core exited", { generation: generation.id, reason: this.lastFailure })
    this.afterDeath()
  }

  private afterDeath(): void {
    const now = Date.now()
    this.restartTimes = this.restartTimes.filter((time) => now - time < this.policy.windowMs)
    if (this.restartTimes.length >= this.policy.maxRestarts) {
      this.giveUp()
      return
    }
    const delay = Math.min(this.policy.maxDelayMs, this.policy.initialDelayMs * 2 ** this.restartTimes.length)
    this.restartTimes.push(now + delay)
    this.stateValue = "restarting"
    this.options.log.info("restarting the core", { delayMs: delay, restartsInWindow: this.restartTimes.length })
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined
      if (this.stateValue === "restarting") this.spawnGeneration("restarting")
    }, delay)
  }

  private giveUp(): void {
    this.stateValue = "failed"
    const seconds = Math.round(this.policy.windowMs / 1000)
    const deaths = this.policy.maxRestarts + 1
    this.giveUpMessage =
      `the orchestrator core stopped working: it died ${deaths} time${deaths === 1 ? "" : "s"} within ${seconds} s ` +
      `and is not restarted again (last: ${this.lastFailure}). Check that \`${this.options.command.join(" ")}\` ` +
      `runs, then restart OpenCode. Its log: ${this.options.log.location}`
    this.options.log.error("giving up on the core", { message: this.giveUpMessage })
    this.rejectWaiters()
    this.options.onGiveUp?.(this.giveUpMessage)
  }

  private rejectWaiters(): void {
    const error = this.unavailableError()
    for (const waiter of this.waiters) {
      if (waiter.timer !== undefined) clearTimeout(waiter.timer)
      waiter.reject(error)
    }
    this.waiters.clear()
  }

  private exitOf(generation: Generation): Promise<void> {
    if (generation.exited) return Promise.resolve()
    return new Promise((resolve) => generation.child.once("exit", () => resolve()))
  }
}

/** True if `promise` settled within `ms`. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([promise.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`
}
