// Puts the pieces together for one OpenCode instance (one project directory):
// the core process, the hooks, the log. Kept apart from index.ts so tests can
// build a shim with a fake UI and a fake core, and because index.ts may export
// nothing but the plugin function (OpenCode calls every export of the entry
// file as a plugin).

import type { Hooks } from "@opencode-ai/plugin"

import { mergeAgents } from "./agents.ts"
import { createCommandHandler, registerCommands } from "./commands.ts"
import { CoreProcess } from "./core-process.ts"
import type { RestartPolicy, SpawnFunction } from "./core-process.ts"
import { FileLogger, defaultLogFile } from "./log.ts"
import type { Logger } from "./log.ts"
import { parseOptions } from "./options.ts"
import type { ShimOptions } from "./options.ts"
import { Methods, PROTOCOL_VERSION, asAgentDefinitions, asProgress } from "./protocol.ts"
import type { InitializeParams } from "./protocol.ts"
import { asError } from "./rpc.ts"
import type { Upstream } from "./proxy.ts"
import { ScopeGuard } from "./scope.ts"
import { ServerAccess } from "./server-access.ts"
import type { Probe } from "./server-access.ts"
import { ProgressDisplay } from "./ui.ts"
import type { Ui } from "./ui.ts"

export const SHIM_NAME = "opencode-orchestrator-shim"
export const SHIM_VERSION = "0.1.0"

export interface ShimContext {
  directory: string
  worktree: string
  /** OpenCode's server URL, read at each (re)initialize: OpenCode exposes it as a getter. */
  serverUrl: () => string
  /**
   * The plugin client's fetch, which reaches OpenCode's server even when it
   * does not listen (the TUI); the shim's proxy forwards to it. Undefined:
   * no proxy, the core always gets `serverUrl`.
   */
  upstream?: () => Upstream | undefined
  /** For tests: replaces the `GET /global/health` probe of serverAccess "auto". */
  probe?: Probe
  /** Built once the log exists, so UI failures can be logged. */
  ui: (log: Logger) => Ui
  env: NodeJS.ProcessEnv
  /** For tests: a logger instead of the log file. */
  logger?: Logger
  spawn?: SpawnFunction
  restart?: Partial<RestartPolicy>
  stopGraceMs?: number
}

export interface Shim {
  hooks: Hooks
  core: CoreProcess
  log: Logger
  options: ShimOptions
  scope: ScopeGuard
  access: ServerAccess
}

export function createShim(context: ShimContext, rawOptions: unknown): Shim {
  const { options, warnings } = parseOptions(rawOptions)
  const log = context.logger ?? new FileLogger(options.logFile ?? defaultLogFile(context.directory))
  for (const warning of warnings) log.warn(warning)
  const ui = context.ui(log)
  const progressDisplay = new ProgressDisplay(ui, log)
  const access = new ServerAccess({
    mode: options.serverAccess,
    serverUrl: context.serverUrl,
    upstream: context.upstream ?? (() => undefined),
    password: context.env.OPENCODE_SERVER_PASSWORD,
    log,
    ...(context.probe ? { probe: context.probe } : {}),
  })

  const initializeParams = async (): Promise<InitializeParams> => {
    // OpenCode's URL, or the shim's proxy to it (decided once, at the first call).
    const endpoint = await access.endpoint()
    const params: InitializeParams = {
      protocolVersion: PROTOCOL_VERSION,
      clientInfo: { name: SHIM_NAME, version: SHIM_VERSION },
      serverUrl: endpoint.serverUrl.replace(/\/+$/, ""),
      directory: context.directory,
      worktree: context.worktree,
    }
    // Only when set: the core treats a present password as "use basic auth".
    if (endpoint.password) params.password = endpoint.password
    return params
  }

  const core = new CoreProcess({
    command: options.command,
    cwd: context.directory,
    env: context.env,
    initializeParams,
    log,
    requestTimeoutMs: options.requestTimeoutMs,
    restart: { maxRestarts: options.maxRestarts, windowMs: options.restartWindowMs, ...context.restart },
    ...(context.stopGraceMs !== undefined ? { stopGraceMs: context.stopGraceMs } : {}),
    ...(context.spawn ? { spawn: context.spawn } : {}),
    onNotification: (method, params) => {
      if (method !== Methods.missionProgress) return
      const progress = asProgress(params)
      if (!progress) {
        log.warn("malformed mission/progress notification", { params: JSON.stringify(params) })
        return
      }
      // OpenCode does not await us here and the core does not wait for us: fire and log.
      void progressDisplay.show(progress)
    },
    onGiveUp: (message) => {
      void ui.toast(message, "error", "opencode-orchestrator")
    },
  })

  const scope = new ScopeGuard({ core, log, timeoutMs: options.scopeTimeoutMs })

  const hooks: Hooks = {
    config: async (config) => {
      registerCommands(config)
      // OpenCode waits for this hook before it finishes starting the project,
      // hence the bound: a core that cannot start costs the agents, not OpenCode.
      try {
        // One budget for both: call() waits for the core within its timeout.
        const result = await core.call(Methods.agentsList, {}, { timeoutMs: options.startupTimeoutMs })
        const merged = mergeAgents(config, asAgentDefinitions(result))
        log.info("registered the mission agents", { agents: merged })
      } catch (error) {
        log.error("could not get the mission agents from the core; missions cannot run until OpenCode restarts", {
          error: asError(error).message,
        })
      }
    },
    "command.execute.before": createCommandHandler({ core, ui, log, requestTimeoutMs: options.requestTimeoutMs }),
    "tool.execute.before": scope.hook,
    dispose: async () => {
      // The core first: it may still talk to OpenCode while it stops.
      await core.stop()
      await access.close()
      log.info("stopped")
    },
  }

  log.info("plugin loaded", { directory: context.directory, command: options.command, serverAccess: options.serverAccess })
  core.start()
  return { hooks, core, log, options, scope, access }
}
