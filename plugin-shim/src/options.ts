// The plugin's options: the second element of its entry in opencode.json,
// e.g. ["/path/plugin-shim/src/index.ts", {"command": ["python3", "-m",
// "opencode_orchestrator", "serve"]}]. A wrong option is reported and replaced
// by its default rather than failing the plugin: OpenCode only logs a plugin
// that throws at load time, and the user would see nothing at all.
//
// The same object may hold the orchestrator's configuration (CORE_OPTION_KEYS:
// "limits", "wal"...): the core reads those from the file itself and checks
// them; the shim only leaves them alone. A key neither side knows is reported.

import { isObject } from "./rpc.ts"
import { SERVER_ACCESS_MODES } from "./server-access.ts"
import type { ServerAccessMode } from "./server-access.ts"

export interface ShimOptions {
  /** argv of the core. */
  command: string[]
  /** Where the shim writes its log (and the core's stderr); default: see log.ts. */
  logFile: string | undefined
  /** Timeout of the mission commands' calls (ms). */
  requestTimeoutMs: number
  /** Timeout of scope/check, waiting for a restarting core included (ms). */
  scopeTimeoutMs: number
  /** How long OpenCode's start-up waits for the core's agent list (ms). */
  startupTimeoutMs: number
  /** Restarts allowed within `restartWindowMs` before the shim gives up. */
  maxRestarts: number
  restartWindowMs: number
  /** How the core reaches OpenCode: "auto", "direct" (serverUrl) or "proxy" (see server-access.ts). */
  serverAccess: ServerAccessMode
}

export const DEFAULT_OPTIONS: Readonly<ShimOptions> = {
  command: ["opencode-orchestrator", "serve"],
  logFile: undefined,
  requestTimeoutMs: 30_000,
  scopeTimeoutMs: 5_000,
  startupTimeoutMs: 10_000,
  maxRestarts: 5,
  restartWindowMs: 10 * 60_000,
  serverAccess: "auto",
}

/**
 * The core's top-level configuration keys (OrchestratorConfig's fields in
 * src/opencode_orchestrator/config/schema.py; a Python test keeps the two equal).
 */
export const CORE_OPTION_KEYS: readonly string[] = [
  "limits",
  "budget",
  "timeouts",
  "adaptive",
  "checks",
  "models",
  "shadow_review",
  "permissions",
  "session_permissions",
  "wal",
  "log",
]

const NUMBER_OPTIONS = [
  "requestTimeoutMs",
  "scopeTimeoutMs",
  "startupTimeoutMs",
  "maxRestarts",
  "restartWindowMs",
] as const

export function parseOptions(raw: unknown): { options: ShimOptions; warnings: string[] } {
  const options: ShimOptions = { ...DEFAULT_OPTIONS, command: [...DEFAULT_OPTIONS.command] }
  const warnings: string[] = []
  if (raw === undefined || raw === null) return { options, warnings }
  if (!isObject(raw)) {
    warnings.push("plugin options are not an object; using the defaults")
    return { options, warnings }
  }
  const known = new Set<string>(["command", "logFile", "serverAccess", ...NUMBER_OPTIONS, ...CORE_OPTION_KEYS])
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) warnings.push(`plugin option "${key}" is not a shim or orchestrator option: the core will refuse the configuration`)
  }
  const command = raw.command
  if (command !== undefined) {
    if (Array.isArray(command) && command.length > 0 && command.every((part) => typeof part === "string" && part !== "")) {
      options.command = [...(command as string[])]
    } else {
      warnings.push(`option "command" must be a non-empty array of strings; using ${JSON.stringify(options.command)}`)
    }
  }
  const logFile = raw.logFile
  if (logFile !== undefined) {
    if (typeof logFile === "string" && logFile !== "") options.logFile = logFile
    else warnings.push('option "logFile" must be a non-empty string; using the default')
  }
  const serverAccess = raw.serverAccess
  if (serverAccess !== undefined) {
    if (SERVER_ACCESS_MODES.includes(serverAccess as ServerAccessMode)) options.serverAccess = serverAccess as ServerAccessMode
    else warnings.push(`option "serverAccess" must be one of ${SERVER_ACCESS_MODES.map((mode) => `"${mode}"`).join(", ")}; using "auto"`)
  }
  for (const key of NUMBER_OPTIONS) {
    const value = raw[key]
    if (value === undefined) continue
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) options[key] = value
    else warnings.push(`option "${key}" must be a number >= 0; using ${options[key]}`)
  }
  return { options, warnings }
}
