// JSON-RPC 2.0 over newline-delimited JSON (docs/protocol.md): the framing and
// a small client for the shim's side of the connection to the core.
//
// The core is the server for nearly everything; the shim sends requests and
// receives responses and notifications (mission/progress). Requests *from* the
// core are answered "method not found": the protocol allows them, this shim
// offers none yet.

import { StringDecoder } from "node:string_decoder"

import type { Logger } from "./log.ts"

/** Codes of docs/protocol.md that the shim looks at. */
export const ErrorCodes = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  serverNotInitialized: -32002,
  shuttingDown: -32003,
  requestCancelled: -32800,
} as const

/** An error response from the core: `message` is one line written for a person. */
export class RpcError extends Error {
  readonly code: number
  readonly data: unknown

  constructor(code: number, message: string, data?: unknown) {
    super(message)
    this.name = "RpcError"
    this.code = code
    this.data = data
  }
}

/** No response within the request's timeout; the core was sent `$/cancelRequest`. */
export class RpcTimeoutError extends Error {
  readonly method: string
  readonly timeoutMs: number

  constructor(method: string, timeoutMs: number) {
    super(`the orchestrator core did not answer ${method} within ${timeoutMs} ms`)
    this.name = "RpcTimeoutError"
    this.method = method
    this.timeoutMs = timeoutMs
  }
}

/** The connection ended (the core exited or is being stopped) before the answer came. */
export class ConnectionClosedError extends Error {
  constructor(message: string) {
    super(message)
    this.name = "ConnectionClosedError"
  }
}

/** The 16 MiB default of the core (`serve --max-line-bytes`): the same bound both ways. */
export const DEFAULT_MAX_LINE_CHARS = 16 * 1024 * 1024

/**
 * Splits a byte stream into lines. A chunk may end mid-line or mid-character,
 * or hold many lines; `\r\n` is accepted like `\n`. A line longer than
 * `maxLineChars` is dropped (reported through `onOverlong`) without being
 * buffered whole, and reading resumes after its newline, as the core does.
 */
export class LineDecoder {
  private readonly decoder = new StringDecoder("utf8")
  private buffer = ""
  private skipping = false
  private readonly maxLineChars: number
  private readonly onOverlong: (length: number) => void
  private skipped = 0

  constructor(options: { maxLineChars?: number; onOverlong?: (length: number) => void } = {}) {
    this.maxLineChars = options.maxLineChars ?? DEFAULT_MAX_LINE_CHARS
    this.onOverlong = options.onOverlong ?? (() => {})
  }

  /** The complete lines this chunk finishes, without their line endings. */
  push(chunk: Buffer | string): string[] {
    const text = typeof chunk === "string" ? chunk : this.decoder.write(chunk)
    const lines: string[] = []
    let start = 0
    for (;;) {
      const newline = text.indexOf("\n", start)
      if (newline === -1) break
      const piece = text.slice(start, newline)
      start = newline + 1
      if (this.skipping) {
        this.skipped += piece.length
        this.onOverlong(this.skipped)
        this.skipping = false
        this.skipped = 0
        continue
      }
      const line = this.buffer + piece
      this.buffer = ""
      if (line.length > this.maxLineChars) {
        this.onOverlong(line.length)
        continue
      }
      lines.push(stripCarriageReturn(line))
    }
    const rest = text.slice(start)
    if (this.skipping) {
      this.skipped += rest.length
    } else if (this.buffer.length + rest.length > this.maxLineChars) {
      // Do not hold a runaway line in memory: drop what we have and skip to its end.
      this.skipping = true
      this.skipped = this.buffer.length + rest.length
      this.buffer = ""
    } else {
      this.buffer += rest
    }
    return lines
  }

  /** At end of input: the last line if it had no newline (the protocol still reads it). */
  end(): string[] {
    const tail = this.buffer + this.decoder.end()
    this.buffer = ""
    if (this.skipping) {
      this.skipping = false
      this.onOverlong(this.skipped + tail.length)
      this.skipped = 0
      return []
    }
    return tail.length > 0 ? [stripCarriageReturn(tail)] : []
  }
}

function stripCarriageReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line
}

type Id = number | string

interface Pending {
  method: string
  resolve: (value: unknown) => void
  reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout> | undefined
}

export interface RequestOptions {
  /** Milliseconds before the request fails with {@link RpcTimeoutError}; 0 = never. */
  timeoutMs?: number
}

export interface ConnectionOptions {
  /** Writes one serialized message (without newline) to the peer. */
  send: (line: string) => void
  log: Logger
  /** Default timeout of requests (the core's own default is 30 s). */
  requestTimeoutMs?: number
  onNotification?: (method: string, params: unknown) => void
}

/**
 * One JSON-RPC connection: outgoing ids, the pending map, per-request timers,
 * and dispatch of whatever arrives. Feed it lines with {@link handleLine}.
 */
export class JsonRpcConnection {
  private nextId = 1
  private readonly pending = new Map<Id, Pending>()
  private closedWith: Error | undefined
  private readonly options: ConnectionOptions

  constructor(options: ConnectionOptions) {
    this.options = options
  }

  get closed(): boolean {
    return this.closedWith !== undefined
  }

  get pendingCount(): number {
    return this.pending.size
  }

  /** Sends a request; resolves with its `result`, rejects with a typed error. */
  request<T = unknown>(method: string, params?: unknown, options: RequestOptions = {}): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith)
    const id = this.nextId++
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? 30_000
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = {
        method,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer: undefined,
      }
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          if (this.pending.get(id) !== entry) return
          this.pending.delete(id)
          // Tell the core to stop working on it; its late answer is dropped (and logged).
          this.trySend({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id } })
          reject(new RpcTimeoutError(method, timeoutMs))
        }, timeoutMs)
      }
      this.pending.set(id, entry)
      const message: Record<string, unknown> = { jsonrpc: "2.0", id, method }
      if (params !== undefined) message.params = params
      try {
        this.options.send(JSON.stringify(message))
      } catch (error) {
        this.settle(id)
        reject(asError(error))
      }
    })
  }

  notify(method: string, params?: unknown): void {
    if (this.closedWith) throw this.closedWith
    const message: Record<string, unknown> = { jsonrpc: "2.0", method }
    if (params !== undefined) message.params = params
    this.options.send(JSON.stringify(message))
  }

  /** Handles one line from the peer. Never throws: bad input is logged and dropped. */
  handleLine(line: string): void {
    if (line.trim() === "") return
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch {
      // The core writes only protocol messages to stdout; anything else is a bug
      // there (or a stray print). Keep the stream in sync and say so.
      this.options.log.warn("dropped a line from the core that is not JSON", {
        line: truncate(line, 200),
      })
      return
    }
    if (Array.isArray(message)) {
      for (const item of message) this.handleMessage(item)
      return
    }
    this.handleMessage(message)
  }

  /** Fails every pending request with `error`; later requests fail with it too. */
  close(error: Error): void {
    if (this.closedWith) return
    this.closedWith = error
    for (const [id, entry] of this.pending) {
      this.settle(id)
      entry.reject(error)
    }
  }

  private handleMessage(message: unknown): void {
    if (!isObject(message) || message.jsonrpc !== "2.0") {
      this.options.log.warn("dropped a message from the core that is not JSON-RPC 2.0", {
        message: truncate(safeStringify(message), 200),
      })
      return
    }
    if (typeof message.method === "string") {
      if ("id" in message && message.id !== undefined && message.id !== null) {
        this.answerUnknownRequest(message.id, message.method)
        return
      }
      this.dispatchNotification(message.method, message.params)
      return
    }
    this.handleResponse(message)
  }

  private handleResponse(message: Record<string, unknown>): void {
    const id = message.id
    const hasResult = "result" in message
    const error = message.error
    if (typeof id !== "number" && typeof id !== "string") {
      // id null: the core could not attribute our message (a parse error, say).
      this.options.log.warn("error from the core about an unattributable message", {
        error: safeStringify(error),
      })
      return
    }
    const entry = this.pending.get(id)
    if (!entry) {
      this.options.log.warn("dropped a response to no pending request (late after a timeout?)", {
        id,
      })
      return
    }
    if (hasResult === (error !== undefined)) {
      this.options.log.warn("dropped a malformed response from the core", { id })
      return
    }
    this.settle(id)
    if (hasResult) {
      entry.resolve(message.result)
      return
    }
    entry.reject(toRpcError(error))
  }

  private dispatchNotification(method: string, params: unknown): void {
    if (method.startsWith("$/")) return
    const handler = this.options.onNotification
    if (!handler) return
    try {
      handler(method, params)
    } catch (error) {
      this.options.log.error("notification handler failed", {
        method,
        error: asError(error).message,
      })
    }
  }

  private answerUnknownRequest(id: unknown, method: string): void {
    if (typeof id !== "number" && typeof id !== "string") return
    this.trySend({
      jsonrpc: "2.0",
      id,
      error: { code: ErrorCodes.methodNotFound, message: `the shim has no method ${method}` },
    })
  }

  private settle(id: Id): void {
    const entry = this.pending.get(id)
    if (!entry) return
    this.pending.delete(id)
    if (entry.timer !== undefined) clearTimeout(entry.timer)
  }

  private trySend(message: unknown): void {
    if (this.closedWith) return
    try {
      this.options.send(JSON.stringify(message))
    } catch (error) {
      this.options.log.warn("could not write to the core", { error: asError(error).message })
    }
  }
}

function toRpcError(error: unknown): RpcError {
  if (isObject(error) && typeof error.code === "number" && typeof error.message === "string") {
    return new RpcError(error.code, error.message, error.data)
  }
  return new RpcError(ErrorCodes.internalError, "malformed error from the core", error)
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value))
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`
}
