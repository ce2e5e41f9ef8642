// The shim's log: one JSON object a line, in a file of its own.
//
// Not OpenCode's log (client.app.log is an HTTP call per line, too heavy for
// the core's stderr, which is passed through here line by line) and not our
// stderr (in the TUI that would paint over the screen). By default the file is
// under the user's state directory, one per project: not inside the project,
// because a new `.opencode/` there makes OpenCode npm-install its plugin
// package into it at every start. The `logFile` option overrides it.

import { createHash } from "node:crypto"
import { appendFileSync, mkdirSync, renameSync, statSync } from "node:fs"
import { homedir } from "node:os"
import { basename, dirname, join } from "node:path"

export type Level = "debug" | "info" | "warn" | "error"

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
  /** A line the core wrote to its stderr (already JSON, usually), kept as it is. */
  core(line: string): void
  /** Where the log goes, for messages that tell the user where to look. */
  readonly location: string
}

/** Rotated (to `<file>.1`) when it is larger than this at start-up. */
const ROTATE_BYTES = 10 * 1024 * 1024

/** `$XDG_STATE_HOME/opencode-orchestrator/logs/<project name>-<hash of its path>.log`. */
export function defaultLogFile(
  directory: string,
  env: Record<string, string | undefined> = process.env,
): string {
  const stateHome = env.XDG_STATE_HOME || join(homedir(), ".local", "state")
  const hash = createHash("sha256").update(directory).digest("hex").slice(0, 8)
  const name = basename(directory).replace(/[^A-Za-z0-9._-]/g, "_") || "root"
  return join(stateHome, "opencode-orchestrator", "logs", `${name}-${hash}.log`)
}

/**
 * Appends to `path` synchronously: lines are few (the core logs little at info
 * level), and a synchronous append cannot lose the last lines when OpenCode
 * exits right after a failure, which is when they matter.
 */
export class FileLogger implements Logger {
  readonly location: string
  private broken = false

  constructor(path: string) {
    this.location = path
    try {
      mkdirSync(dirname(path), { recursive: true })
      if ((statSync(path, { throwIfNoEntry: false })?.size ?? 0) > ROTATE_BYTES) {
        renameSync(path, `${path}.1`)
      }
    } catch {
      // Reported by the first write that fails.
    }
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.write("debug", message, fields)
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.write("info", message, fields)
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.write("warn", message, fields)
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.write("error", message, fields)
  }

  core(line: string): void {
    this.append(`${line}\n`)
  }

  private write(level: Level, message: string, fields?: Record<string, unknown>): void {
    const record = { timestamp: new Date().toISOString(), level, source: "shim", message, ...fields }
    this.append(`${JSON.stringify(record)}\n`)
  }

  private append(text: string): void {
    if (this.broken) return
    try {
      appendFileSync(this.location, text)
    } catch (error) {
      // A log that cannot be written must not break the plugin: say so once.
      this.broken = true
      process.stderr.write(`opencode-orchestrator shim: cannot write its log ${this.location}: ${String(error)}\n`)
    }
  }
}
