// The mission methods of the core, as the shim uses them (camelCase on the
// wire). The core validates what it receives; the shim checks the few fields
// of each answer it relies on, so a core of another version fails with a
// clear message instead of showing "undefined" to the user.

import { isObject } from "./rpc.ts"

export const PROTOCOL_VERSION = "1"

export const Methods = {
  initialize: "initialize",
  initialized: "initialized",
  shutdown: "shutdown",
  exit: "exit",
  missionStart: "mission/start",
  missionStatus: "mission/status",
  missionCancel: "mission/cancel",
  missionResume: "mission/resume",
  scopeCheck: "scope/check",
  agentsList: "agents/list",
  /** Notification, core -> shim. */
  missionProgress: "mission/progress",
} as const

export interface InitializeParams {
  protocolVersion: string
  clientInfo: { name: string; version: string }
  serverUrl: string
  directory: string
  worktree: string
  password?: string
}

export interface StartParams {
  goal: string
  parentSessionId?: string
}

export interface MissionParams {
  missionId?: string
}

/** `mission/status`: without `missionId`, the core shows the mission started from `sessionId`. */
export interface StatusParams extends MissionParams {
  sessionId?: string
}

export interface ScopeCheckParams {
  sessionId: string
  tool: string
  paths: string[]
}

export interface ScopeVerdict {
  allowed: boolean
  reason?: string
  missionId?: string
  unitId?: string
}

export type ProgressVariant = "info" | "success" | "warning" | "error"

/**
 * `mission/progress`: the core decides how the user hears of it, the shim
 * shows it: a toast (`toast`), a post into the mission's session that starts
 * no model turn (`post` with `sessionId`), or both.
 */
export interface ProgressParams {
  missionId: string
  state: string
  text: string
  level: "info" | "warning" | "error"
  /** Show it as a toast (a core that does not say: yes). */
  toast: boolean
  /** Post it into `sessionId` as a `noReply` message (a core that does not say: no). */
  post: boolean
  sessionId?: string
  /** The toast's look; absent: from `level` (and `state`). */
  variant?: ProgressVariant
  /** "phase", "failures", "progress" or "notice" (for the log). */
  kind: string
}

export type AgentDefinitions = Record<string, Record<string, unknown>>

/** A result the shim cannot use: the core and the shim disagree on the protocol. */
export class ProtocolMismatchError extends Error {
  constructor(method: string, what: string) {
    super(`unexpected answer from the orchestrator core to ${method}: ${what} (are the shim and the core of the same version?)`)
    this.name = "ProtocolMismatchError"
  }
}

/** `result[field]` as a string; throws {@link ProtocolMismatchError} otherwise. */
export function stringField(method: string, result: unknown, field: string): string {
  const value = isObject(result) ? result[field] : undefined
  if (typeof value !== "string") throw new ProtocolMismatchError(method, `no string "${field}"`)
  return value
}

export function asScopeVerdict(result: unknown): ScopeVerdict {
  if (!isObject(result) || typeof result.allowed !== "boolean") {
    throw new ProtocolMismatchError(Methods.scopeCheck, 'no boolean "allowed"')
  }
  const verdict: ScopeVerdict = { allowed: result.allowed }
  if (typeof result.reason === "string") verdict.reason = result.reason
  if (typeof result.missionId === "string") verdict.missionId = result.missionId
  if (typeof result.unitId === "string") verdict.unitId = result.unitId
  return verdict
}

export function asAgentDefinitions(result: unknown): AgentDefinitions {
  const agents = isObject(result) ? result.agents : undefined
  if (!isObject(agents)) throw new ProtocolMismatchError(Methods.agentsList, 'no object "agents"')
  const definitions: AgentDefinitions = {}
  for (const [name, definition] of Object.entries(agents)) {
    if (isObject(definition)) definitions[name] = definition
  }
  return definitions
}

/** Null when `params` is not a usable progress notification. */
export function asProgress(params: unknown): ProgressParams | null {
  if (!isObject(params) || typeof params.text !== "string") return null
  const level = params.level === "warning" || params.level === "error" ? params.level : "info"
  const progress: ProgressParams = {
    missionId: typeof params.missionId === "string" ? params.missionId : "",
    state: typeof params.state === "string" ? params.state : "",
    text: params.text,
    level,
    toast: params.toast !== false,
    post: params.post === true,
    kind: typeof params.kind === "string" ? params.kind : "notice",
  }
  if (typeof params.sessionId === "string" && params.sessionId !== "") progress.sessionId = params.sessionId
  if (isVariant(params.variant)) progress.variant = params.variant
  return progress
}

function isVariant(value: unknown): value is ProgressVariant {
  return value === "info" || value === "success" || value === "warning" || value === "error"
}
