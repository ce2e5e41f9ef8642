// File scopes: before a file-writing tool runs, ask the core whether the
// session may write those paths (`scope/check`), and refuse the call if not.
//
// A refusal is an Error thrown from `tool.execute.before`: OpenCode 1.18.33
// then skips the tool and hands the error's message to the model as the
// tool's result (measured, docs/opencode-observed.md), so `reason` is written
// for the model.
//
// When the core cannot answer (starting, restarting, given up, timed out):
//   - a session the core has told us belongs to a mission is refused (fail
//     closed), with a message that says whether retrying can help;
//   - any other session is let through with a warning in the log (fail open):
//     the user's own sessions must not stop editing because the
//     orchestrator is down.
// The shim learns mission sessions from the verdicts (`missionId`). A shim
// that restarted with OpenCode knows none until the core answers again; the
// scopeTimeoutMs wait (the core restarting in the meantime) covers that window.

import type { CoreCaller } from "./core-process.ts"
import { CoreUnavailableError } from "./core-process.ts"
import type { Logger } from "./log.ts"
import { Methods, asScopeVerdict } from "./protocol.ts"
import type { ScopeCheckParams, ScopeVerdict } from "./protocol.ts"
import { asError, isObject } from "./rpc.ts"

/**
 * The tools that write files, by the names OpenCode gives them. 1.18.33 has
 * `edit`, `write` and `apply_patch` (the latter offered to some models only);
 * `multiedit` and `patch` are the names of earlier versions, kept so an
 * older or newer OpenCode is not silently unscoped.
 */
export const SCOPED_TOOLS: ReadonlySet<string> = new Set(["edit", "write", "multiedit", "patch", "apply_patch"])

/** The paths a tool call would write; undefined for tools that write no files. */
export function pathsOf(tool: string, args: unknown): string[] | undefined {
  if (!SCOPED_TOOLS.has(tool)) return undefined
  const paths: string[] = []
  if (isObject(args)) {
    // edit, write, multiedit: {filePath, ...}; multiedit's edits may name files too.
    addPath(paths, args.filePath)
    if (Array.isArray(args.edits)) {
      for (const edit of args.edits) if (isObject(edit)) addPath(paths, edit.filePath)
    }
    // patch, apply_patch: {patchText}, the "*** Begin Patch" format.
    for (const key of ["patchText", "patch"]) {
      const text = args[key]
      if (typeof text === "string") for (const path of patchPaths(text)) addPath(paths, path)
    }
  }
  return paths
}

const PATCH_HEADERS = ["*** Add File:", "*** Update File:", "*** Delete File:", "*** Move to:"]

/** Every file a patch adds, updates, deletes, or moves to. */
export function patchPaths(patchText: string): string[] {
  const paths: string[] = []
  for (const raw of patchText.split("\n")) {
    const line = raw.trim()
    for (const header of PATCH_HEADERS) {
      if (line.startsWith(header)) {
        const path = line.slice(header.length).trim()
        if (path) paths.push(path)
      }
    }
  }
  return paths
}

function addPath(paths: string[], value: unknown): void {
  if (typeof value === "string" && value !== "" && !paths.includes(value)) paths.push(value)
}

/** A refused tool call; OpenCode shows `message` to the model as the tool's result. */
export class ScopeRefusal extends Error {
  constructor(message: string) {
    super(message)
    this.name = "ScopeRefusal"
  }
}

export interface ScopeDeps {
  core: CoreCaller
  log: Logger
  /** Bound of one check, waiting for a (re)starting core included. */
  timeoutMs: number
}

/** Remembered mission sessions; bounded, oldest forgotten first. */
const MAX_KNOWN_SESSIONS = 10_000

export class ScopeGuard {
  private readonly deps: ScopeDeps
  private readonly missionSessions = new Set<string>()
  private readonly warnedSessions = new Set<string>()

  constructor(deps: ScopeDeps) {
    this.deps = deps
  }

  isMissionSession(sessionID: string): boolean {
    return this.missionSessions.has(sessionID)
  }

  /** The `tool.execute.before` hook. */
  readonly hook = async (input: { tool: string; sessionID: string }, output: { args: unknown }): Promise<void> => {
    const paths = pathsOf(input.tool, output.args)
    if (paths === undefined) return
    const params: ScopeCheckParams = { sessionId: input.sessionID, tool: input.tool, paths }
    let verdict: ScopeVerdict
    try {
      const result = await this.deps.core.call(Methods.scopeCheck, params, { timeoutMs: this.deps.timeoutMs })
      verdict = asScopeVerdict(result)
    } catch (error) {
      this.unchecked(input.sessionID, input.tool, paths, error)
      return
    }
    if (verdict.missionId !== undefined) this.remember(input.sessionID)
    if (verdict.allowed) return
    this.deps.log.info("write refused by the file scope", { sessionID: input.sessionID, tool: input.tool, paths })
    throw new ScopeRefusal(
      verdict.reason ?? `Writing ${paths.join(", ")} is outside the file scope of your unit; report the need in your final answer instead.`,
    )
  }

  private unchecked(sessionID: string, tool: string, paths: string[], error: unknown): void {
    const message = asError(error).message
    if (this.missionSessions.has(sessionID)) {
      this.deps.log.warn("scope unchecked; refusing the write of a mission session", { sessionID, tool, paths, error: message })
      throw new ScopeRefusal(refusalText(error))
    }
    if (!this.warnedSessions.has(sessionID)) {
      // Once per session: a core that is down would otherwise log every edit.
      this.warnedSessions.add(sessionID)
      if (this.warnedSessions.size > MAX_KNOWN_SESSIONS) this.forgetOldest(this.warnedSessions)
      this.deps.log.warn("scope unchecked; allowing the write of a session not known to be a mission's", {
        sessionID,
        tool,
        paths,
        error: message,
      })
    }
  }

  private remember(sessionID: string): void {
    if (this.missionSessions.has(sessionID)) return
    this.missionSessions.add(sessionID)
    if (this.missionSessions.size > MAX_KNOWN_SESSIONS) this.forgetOldest(this.missionSessions)
  }

  private forgetOldest(set: Set<string>): void {
    const oldest = set.values().next()
    if (!oldest.done) set.delete(oldest.value)
  }
}

function refusalText(error: unknown): string {
  const final = error instanceof CoreUnavailableError && (error.state === "failed" || error.state === "stopping" || error.state === "stopped")
  if (final) {
    return (
      "This file write was not done: the orchestrator core is down, so the write cannot be checked against " +
      "your unit's file scope. Do not retry it; say in your final answer which files you needed to change. " +
      `(${asError(error).message})`
    )
  }
  return (
    "This file write was not done: the orchestrator could not check it against your unit's file scope just now " +
    `(${asError(error).message}). Retry the same tool call in a few seconds.`
  )
}
