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
