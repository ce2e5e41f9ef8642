// What the user sees: toasts and messages posted into a session, through the
// SDK client OpenCode hands the plugin. That client works whether or not
// OpenCode's HTTP server listens (in the TUI it may call the server in
// process), which a raw fetch to `serverUrl` would not.

import type { PluginInput } from "@opencode-ai/plugin"

import type { Logger } from "./log.ts"
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
