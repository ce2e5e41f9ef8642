// What the user sees: toasts and messages posted into a session, through the
// SDK client OpenCode hands the plugin. That client works whether or not
// OpenCode's HTTP server listens (in the TUI it may call the server in
// process), which a raw fetch to `serverUrl` would not.

import type { PluginInput } from "@opencode-ai/plugin"

import type { Logger } from "./log.ts"
import type { ProgressParams } from "./protocol.ts"
import { asError } from "./rpc.ts"

export type ToastVariant = "info" | "success" | "warning" | "error"

export interface Ui {
  toast(message: string, variant: ToastVariant, title?: string): Promise<void>
  /**
   * Adds `text` to the session's transcript without starting a model turn
   * (`noReply`). Resolves to false when it could not be posted.
   */
  postToSession(sessionID: string, text: string): Promise<boolean>
}

type Client = PluginInput["client"]

/** Toasts last this long (ms); OpenCode's default of 5 s is short for an error to read. */
const ERROR_TOAST_MS = 15_000

export function clientUi(client: Client, log: Logger): Ui {
  return {
    async toast(message, variant, title) {
      try {
        const body: { message: string; variant: ToastVariant; title?: string; duration?: number } = { message, variant }
        if (title !== undefined) body.title = title
        if (variant === "error") body.duration = ERROR_TOAST_MS
        const response = await client.tui.showToast({ body })
        if (response.error !== undefined) log.warn("toast refused", { error: String(response.error) })
      } catch (error) {
        log.warn("toast failed", { error: asError(error).message })
      }
    },
    async postToSession(sessionID, text) {
      try {
        const response = await client.session.prompt({
          path: { id: sessionID },
          body: { noReply: true, parts: [{ type: "text", text }] },
        })
        if (response.error !== undefined) {
          log.warn("could not post into the session", { sessionID, error: JSON.stringify(response.error) })
          return false
        }
        return true
      } catch (error) {
        log.warn("could not post into the session", { sessionID, error: asError(error).message })
        return false
      }
    },
  }
}

/** A post still unanswered after this long (ms) is given up: the posts after it go on. */
export const POST_TIMEOUT_MS = 30_000

/**
 * Shows the core's `mission/progress` notifications as the core says: a toast,
 * a post into the mission's session, or both. The shim decides nothing here.
 */
export class ProgressDisplay {
  private readonly ui: Ui
  private readonly log: Logger
  private readonly postTimeoutMs: number
  /** The last post queued per session: posts go out one after another, in order. */
  private readonly queued = new Map<string, Promise<void>>()

  constructor(ui: Ui, log: Logger, postTimeoutMs: number = POST_TIMEOUT_MS) {
    this.ui = ui
    this.log = log
    this.postTimeoutMs = postTimeoutMs
  }

  /** Resolves once shown; never rejects (failures are logged, a hung post given up). */
  async show(progress: ProgressParams): Promise<void> {
    const shown: Promise<void>[] = []
    if (progress.toast) {
      const toast = this.ui.toast(progress.text, toastVariant(progress), progressTitle(progress.missionId))
      shown.push(toast.catch((error: unknown) => this.failed("toast", progress, error)))
    }
    if (progress.post && progress.sessionId !== undefined) shown.push(this.post(progress.sessionId, progress))
    await Promise.all(shown)
  }

  private post(sessionID: string, progress: ProgressParams): Promise<void> {
    // Two posts sent at once may land in either order; a phase and the progress after it must not swap.
    // Each link settles (postOnce never rejects; the catch is for good measure), so one
    // failed or hung post never holds back the ones after it.
    const previous = this.queued.get(sessionID) ?? Promise.resolve()
    const next: Promise<void> = previous
      .catch(() => {})
      .then(() => this.postOnce(sessionID, progress))
      .finally(() => {
        if (this.queued.get(sessionID) === next) this.queued.delete(sessionID)
      })
    this.queued.set(sessionID, next)
    return next
  }

  private async postOnce(sessionID: string, progress: ProgressParams): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.postTimeoutMs)
    })
    const posting = Promise.resolve().then(() => this.ui.postToSession(sessionID, progress.text))
    // Given up on, it may still fail later: that must not be an unhandled rejection.
    posting.catch(() => {})
    try {
      const posted = await Promise.race([posting, timedOut])
      if (posted === "timeout") {
        this.log.warn("gave up on a mission progress post", {
          missionId: progress.missionId,
          kind: progress.kind,
          timeoutMs: this.postTimeoutMs,
        })
      } else if (!posted) {
        this.log.warn("could not post mission progress", { missionId: progress.missionId, kind: progress.kind })
      }
    } catch (error) {
      this.failed("post", progress, error)
    } finally {
      clearTimeout(timer)
    }
  }

  private failed(what: "toast" | "post", progress: ProgressParams, error: unknown): void {
    const fields = { missionId: progress.missionId, kind: progress.kind, error: asError(error).message }
    this.log.warn(what === "post" ? "could not post mission progress" : "could not show a mission toast", fields)
  }
}

export function toastVariant(progress: Pick<ProgressParams, "level" | "state" | "variant">): ToastVariant {
  if (progress.variant !== undefined) return progress.variant
  if (progress.level !== "info") return progress.level
  return /^seal/i.test(progress.state) ? "success" : "info"
}

function progressTitle(missionId: string): string {
  return missionId ? `Mission ${missionId}` : "Mission"
}
