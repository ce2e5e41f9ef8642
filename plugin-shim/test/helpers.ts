// Shared test doubles: a logger that keeps its records, a UI that records what
// the user would see, the fake core's command line, and a bounded wait.

import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

import type { Logger } from "../src/log.ts"
import type { ToastVariant, Ui } from "../src/ui.ts"

export interface LogRecord {
  level: string
  message: string
  fields: Record<string, unknown> | undefined
}

export class MemoryLogger implements Logger {
  readonly location = "/var/log/memory.log"
  readonly records: LogRecord[] = []
  readonly coreLines: string[] = []

  debug(message: string, fields?: Record<string, unknown>): void {
    this.records.push({ level: "debug", message, fields })
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.records.push({ level: "info", message, fields })
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.records.push({ level: "warn", message, fields })
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.records.push({ level: "error", message, fields })
  }

  core(line: string): void {
    this.coreLines.push(line)
  }

  has(level: string, fragment: string): boolean {
    return this.records.some((record) => record.level === level && record.message.includes(fragment))
  }
}

export class RecordingUi implements Ui {
  readonly toasts: { message: string; variant: ToastVariant; title: string | undefined }[] = []
  readonly posts: { sessionID: string; text: string }[] = []
  postSucceeds = true

  async toast(message: string, variant: ToastVariant, title?: string): Promise<void> {
    this.toasts.push({ message, variant, title })
  }

  async postToSession(sessionID: string, text: string): Promise<boolean> {
    this.posts.push({ sessionID, text })
    return this.postSucceeds
  }
}

/** The fake core (test/fixtures/fake-core.mjs) as a command; tests run from build/test/. */
export const FAKE_CORE = fileURLToPath(new URL("../../test/fixtures/fake-core.mjs", import.meta.url))

export function fakeCoreCommand(...args: string[]): string[] {
  return [process.execPath, FAKE_CORE, ...args]
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "shim-test-"))
}

/** The messages the fake core recorded with --record. */
export function recorded(file: string): { id?: number | string; method?: string; params?: Record<string, unknown> }[] {
  let text = ""
  try {
    text = readFileSync(file, "utf8")
  } catch {
    return []
  }
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as { id?: number | string; method?: string; params?: Record<string, unknown> })
}

/** Polls `condition` until it holds; fails the test after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Resolves with the rejection of `promise` (fails if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error("expected a rejection")
}
