// How the core's mission/progress notifications are shown: as the core says, posts in order.

import assert from "node:assert/strict"
import { describe, it } from "node:test"

import { asProgress } from "../src/protocol.ts"
import type { ProgressParams } from "../src/protocol.ts"
import { ProgressDisplay, toastVariant } from "../src/ui.ts"
import { MemoryLogger, RecordingUi } from "./helpers.ts"

function progress(fields: Record<string, unknown>): ProgressParams {
  const parsed = asProgress({ missionId: "m1", state: "RUNNING", text: "t", level: "info", ...fields })
  assert.ok(parsed)
  return parsed
}

describe("asProgress", () => {
  it("reads the first protocol's four fields as a toast, not a post", () => {
    assert.deepEqual(progress({}), {
      missionId: "m1",
      state: "RUNNING",
      text: "t",
      level: "info",
      toast: true,
      post: false,
      kind: "notice",
    })
  })

  it("reads the toast, post, session, variant and kind the core decided", () => {
    const parsed = progress({ toast: false, post: true, sessionId: "ses_1", variant: "success", kind: "progress" })
    assert.deepEqual(
      { toast: parsed.toast, post: parsed.post, sessionId: parsed.sessionId, variant: parsed.variant, kind: parsed.kind },
      { toast: false, post: true, sessionId: "ses_1", variant: "success", kind: "progress" },
    )
  })

  it("ignores a variant or session it cannot use", () => {
    const parsed = progress({ post: true, sessionId: "", variant: "loud" })
    assert.equal(parsed.sessionId, undefined)
    assert.equal(parsed.variant, undefined)
    assert.equal(asProgress({ missionId: "m1" }), null)
  })
})

describe("ProgressDisplay", () => {
  it("toasts, posts, or both, as each notification says", async () => {
    const ui = new RecordingUi()
    const display = new ProgressDisplay(ui, new MemoryLogger())
    await display.show(progress({ text: "phase", post: true, sessionId: "ses_1", kind: "phase" }))
    await display.show(progress({ text: "counts", toast: false, post: true, sessionId: "ses_1", kind: "progress" }))
    await display.show(progress({ text: "toast only" }))
    await display.show(progress({ text: "nowhere to post", toast: false, post: true }))
    assert.deepEqual(
      ui.toasts.map((toast) => toast.message),
      ["phase", "toast only"],
    )
    assert.deepEqual(ui.posts, [
      { sessionID: "ses_1", text: "phase" },
      { sessionID: "ses_1", text: "counts" },
    ])
    assert.equal(ui.toasts[0]?.title, "Mission m1")
  })

  it("posts into a session one after another, in the order the core sent them", async () => {
    const log = new MemoryLogger()
    const posted: string[] = []
    const releases: (() => void)[] = []
    const ui = new RecordingUi()
    // The first post is slow: the second must still land after it.
    ui.postToSession = async (_sessionID: string, text: string) => {
      if (text === "first") await new Promise<void>((resolve) => releases.push(resolve))
      posted.push(text)
      return text !== "second"
    }
    const display = new ProgressDisplay(ui, log)
    const first = display.show(progress({ text: "first", toast: false, post: true, sessionId: "s" }))
    const second = display.show(progress({ text: "second", toast: false, post: true, sessionId: "s" }))
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(posted, [])
    releases[0]?.()
    await Promise.all([first, second])
    assert.deepEqual(posted, ["first", "second"])
    assert.ok(log.has("warn", "could not post mission progress"))
  })

  it("takes the toast's look from the core, else from the level and state", () => {
    assert.equal(toastVariant({ level: "info", state: "SEALED", variant: "warning" }), "warning")
    assert.equal(toastVariant({ level: "info", state: "SEALED" }), "success")
    assert.equal(toastVariant({ level: "error", state: "RUNNING" }), "error")
    assert.equal(toastVariant({ level: "info", state: "RUNNING" }), "info")
  })
})

describe("ProgressDisplay, when posting goes wrong", () => {
  async function withoutUnhandledRejections(run: () => Promise<void>): Promise<void> {
    const unhandled: unknown[] = []
    const listener = (reason: unknown): void => {
      unhandled.push(reason)
    }
    process.on("unhandledRejection", listener)
    try {
      await run()
      // Unhandled rejections are reported after the microtasks of the turn that made them.
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off("unhandledRejection", listener)
    }
    assert.deepEqual(unhandled, [])
  }

  it("a post that rejects is logged, and the posts after it still go out", async () => {
    await withoutUnhandledRejections(async () => {
      const log = new MemoryLogger()
      const posted: string[] = []
      const ui = new RecordingUi()
      ui.postToSession = async (_sessionID: string, text: string) => {
        if (text === "first") throw new Error("the session is gone")
        posted.push(text)
        return true
      }
      ui.toast = async () => {
        throw new Error("no TUI")
      }
      const display = new ProgressDisplay(ui, log)
      const first = display.show(progress({ text: "first", post: true, sessionId: "s" }))
      const second = display.show(progress({ text: "second", toast: false, post: true, sessionId: "s" }))
      await Promise.all([first, second])
      assert.deepEqual(posted, ["second"])
      const warned = log.records.find((record) => record.message === "could not post mission progress")
      assert.equal(warned?.fields?.error, "the session is gone")
      assert.ok(log.has("warn", "could not show a mission toast"))
    })
  })

  it("a post that never answers is given up after the timeout, and the next goes out", async () => {
    await withoutUnhandledRejections(async () => {
      const log = new MemoryLogger()
      const posted: string[] = []
      let fail: ((error: Error) => void) | undefined
      const ui = new RecordingUi()
      ui.postToSession = (_sessionID: string, text: string) => {
        if (text === "hung") return new Promise<boolean>((_resolve, reject) => (fail = reject))
        posted.push(text)
        return Promise.resolve(true)
      }
      const display = new ProgressDisplay(ui, log, 20)
      const hung = display.show(progress({ text: "hung", toast: false, post: true, sessionId: "s" }))
      const next = display.show(progress({ text: "next", toast: false, post: true, sessionId: "s" }))
      await Promise.all([hung, next])
      assert.deepEqual(posted, ["next"])
      assert.ok(log.has("warn", "gave up on a mission progress post"))
      fail?.(new Error("too late")) // failing after it was given up is no unhandled rejection
    })
  })
})
