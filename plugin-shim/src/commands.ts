// The slash commands: /extreme-mission <goal>, /mission-status [id],
// /mission-cancel [id], /mission-resume [id].
//
// How a command ends without a model turn (measured on OpenCode 1.18.33, see
// docs/opencode-observed.md, "Plugin commands"): OpenCode builds the parts
// from the template, calls `command.execute.before(input, {parts})`, then
// sends *its own local array* as an ordinary prompt, which always starts a
// model turn. So:
//   - assigning `output.parts = [...]` does nothing (OpenCode keeps its array);
//     the shim edits that array in place, which OpenCode does keep;
//   - even edited, the parts would still go to the model. The only way to stop
//     the command before the prompt is to throw from the hook: OpenCode then
//     answers the command request with an error (HTTP 500 "Unexpected server
//     error", its log has our message), creates no message, calls no model.
// The user's confirmation therefore goes into the session as a `noReply`
// message (shown in the transcript, no turn), posted before the throw.

import type { CoreCaller } from "./core-process.ts"
import type { Logger } from "./log.ts"
import { Methods, stringField } from "./protocol.ts"
import type { StartParams, StatusParams } from "./protocol.ts"
import { RpcTimeoutError, asError, isObject } from "./rpc.ts"
import type { Ui } from "./ui.ts"

export interface CommandSpec {
  description: string
  /** Core method called by the command. */
  method: string
  usage: string
}

export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  "extreme-mission": {
    description: "Start an orchestrated mission on a goal: planner, parallel workers in file scopes, reviewers",
    method: Methods.missionStart,
    usage: "/extreme-mission <goal>",
  },
  "mission-status": {
    description: "Show a mission's units, usage and budget (this session's mission, or /mission-status <id>)",
    method: Methods.missionStatus,
    usage: "/mission-status [mission id]",
  },
  "mission-cancel": {
    description: "Cancel the running mission (or the one named: /mission-cancel <id>)",
    method: Methods.missionCancel,
    usage: "/mission-cancel [mission id]",
  },
  "mission-resume": {
    description: "Resume an unfinished mission (the newest one, or /mission-resume <id>)",
    method: Methods.missionResume,
    usage: "/mission-resume [mission id]",
  },
}

/**
 * What the model would get if the command ever reached it, i.e. if the plugin
 * did not stop it (a future OpenCode that ignores the throw, say): a harmless
 * instruction to tell the user, rather than a goal to start working on alone.
 */
function templateFor(name: string): string {
  return (
    `The /${name} command belongs to the opencode-orchestrator plugin, which should have handled it ` +
    `without involving you. Do not act on it. Tell the user in one sentence that /${name} did not reach ` +
    `the orchestrator and that the plugin's log says why. (Arguments were: $ARGUMENTS)`
  )
}

/** Adds the commands to OpenCode's config; a user's own definition of a field wins. */
export function registerCommands(config: { command?: Record<string, unknown> }): void {
  const commands = (config.command ??= {})
  for (const [name, spec] of Object.entries(COMMANDS)) {
    const ours = { description: spec.description, template: templateFor(name) }
    const theirs = commands[name]
    commands[name] = isObject(theirs) ? { ...ours, ...theirs } : ours
  }
}

/** Thrown at the end of every handled command, to stop OpenCode before its model turn. */
export class CommandHandledError extends Error {
  readonly command: string
  readonly text: string

  constructor(command: string, text: string) {
    super(
      `[opencode-orchestrator] /${command} was handled by the plugin: ${firstLine(text)} ` +
        "(OpenCode reports this as an error on purpose: throwing from command.execute.before is the only way " +
        "in OpenCode 1.18.33 to end a command without a model turn.)",
    )
    this.name = "CommandHandledError"
    this.command = command
    this.text = text
  }
}

export interface CommandInput {
  command: string
  sessionID: string
  arguments: string
}

/** The part shape of OpenCode's prompt parts that the shim writes. */
export interface TextPart {
  type: "text"
  text: string
}

export interface CommandDeps {
  core: CoreCaller
  ui: Ui
  log: Logger
  requestTimeoutMs: number
}

/** The `command.execute.before` hook. Commands that are not ours pass untouched. */
export function createCommandHandler(deps: CommandDeps) {
  return async (input: CommandInput, output: { parts: unknown[] }): Promise<void> => {
    const spec = COMMANDS[input.command]
    if (!spec) return
    const { text, ok } = await runCommand(deps, input, spec)
    // In place: OpenCode keeps a reference to this very array (see the top of the file).
    const part: TextPart = { type: "text", text }
    output.parts.splice(0, output.parts.length, part)
    const posted = await deps.ui.postToSession(input.sessionID, text)
    // Without the transcript message (a client failure), a toast is the next best place.
    if (!posted) await deps.ui.toast(text, ok ? "info" : "error", `/${input.command}`)
    deps.log.info("command handled", { command: input.command, sessionID: input.sessionID, posted })
    throw new CommandHandledError(input.command, text)
  }
}

export interface CommandOutcome {
  /** For the user: the core's confirmation, or what went wrong. */
  text: string
  ok: boolean
}

/** Calls the core for one command; failures become text too (the user sees them as such). */
export async function runCommand(deps: CommandDeps, input: CommandInput, spec: CommandSpec): Promise<CommandOutcome> {
  const args = input.arguments.trim()
  try {
    if (spec.method === Methods.missionStart) {
      const goal = unquoted(args)
      if (goal === "") return { text: `⚠ Usage: ${spec.usage}. Describe what the mission should achieve.`, ok: false }
      const params: StartParams = { goal, parentSessionId: input.sessionID }
      const result = await deps.core.call(spec.method, params, { timeoutMs: deps.requestTimeoutMs })
      const missionId = stringField(spec.method, result, "missionId")
      const message = stringField(spec.method, result, "message")
      const hint = `Follow it with /mission-status ${missionId}; stop it with /mission-cancel ${missionId}.`
      return { text: `${message}\n${hint}`, ok: true }
    }
    const params: StatusParams = {}
    const missionId = args.split(/\s+/)[0]
    if (missionId) params.missionId = missionId
    // Without an id, the core shows the mission started from this very session.
    if (spec.method === Methods.missionStatus) params.sessionId = input.sessionID
    const result = await deps.core.call(spec.method, params, { timeoutMs: deps.requestTimeoutMs })
    const field = spec.method === Methods.missionStatus ? "text" : "message"
    return { text: stringField(spec.method, result, field), ok: true }
  } catch (error) {
    deps.log.warn("command failed", { command: input.command, error: asError(error).message })
    return { text: `⚠ /${input.command} failed: ${describeFailure(error, spec)}`, ok: false }
  }
}

/**
 * The goal without one pair of quotes around it: the README writes
 * `/extreme-mission "add a flag"`, and OpenCode hands the quotes over as typed,
 * so `""` would otherwise start a mission whose goal is two quote marks.
 */
export function unquoted(text: string): string {
  const trimmed = text.trim()
  for (const quote of ['"', "'", "“"]) {
    const close = quote === "“" ? "”" : quote
    if (trimmed.length >= 2 && trimmed.startsWith(quote) && trimmed.endsWith(close)) {
      return trimmed.slice(1, -1).trim()
    }
  }
  return trimmed
}

function describeFailure(error: unknown, spec: CommandSpec): string {
  if (error instanceof RpcTimeoutError && spec.method === Methods.missionStart) {
    return `${error.message}. The mission may have started anyway: check with /mission-status.`
  }
  return asError(error).message
}

function firstLine(text: string): string {
  const line = text.split("\n", 1)[0] ?? ""
  return line.length > 200 ? `${line.slice(0, 200)}…` : line
}
