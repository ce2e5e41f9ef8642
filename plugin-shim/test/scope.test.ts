// File scopes: which paths each tool's arguments name, and what is refused when.

import assert from "node:assert/strict"
import { describe, it } from "node:test"

import type { CoreCaller } from "../src/core-process.ts"
import { CoreUnavailableError } from "../src/core-process.ts"
import { RpcTimeoutError } from "../src/rpc.ts"
import { ScopeGuard, ScopeRefusal, patchPaths, pathsOf } from "../src/scope.ts"
import { MemoryLogger, rejectionOf } from "./helpers.ts"

const PATCH = [
  "*** Begin Patch",
  "*** Add File: src/new.ts",
  "+export const x = 1",
  "*** Update File: src/old.ts",
  "*** Move to: src/renamed.ts",
  "@@ function f()",
  "-  return 1",
  "+  return 2",
  "*** Delete File: src/gone.ts",
  "*** End Patch",
].join("\n")

describe("pathsOf", () => {
  it("reads filePath for write and edit (the 1.18.33 argument shapes)", () => {
    assert.deepEqual(pathsOf("write", { content: "x", filePath: "/p/a.txt" }), ["/p/a.txt"])
    assert.deepEqual(pathsOf("edit", { filePath: "src/b.ts", oldString: "a", newString: "b", replaceAll: false }), ["src/b.ts"])
  })

  it("reads multiedit's filePath and the files its edits name, once each", () => {
    const args = { filePath: "a.ts", edits: [{ oldString: "1", newString: "2" }, { filePath: "b.ts" }, { filePath: "a.ts" }] }
    assert.deepEqual(pathsOf("multiedit", args), ["a.ts", "b.ts"])
  })

  it("reads every file an apply_patch (or patch) patchText touches", () => {
    const expected = ["src/new.ts", "src/old.ts", "src/renamed.ts", "src/gone.ts"]
    assert.deepEqual(pathsOf("apply_patch", { patchText: PATCH }), expected)
    assert.deepEqual(pathsOf("patch", { patchText: PATCH }), expected)
  })

  it("reads a patch wrapped in a heredoc, with CRLF line ends", () => {
    const wrapped = `cat <<'EOF'\r\n${PATCH.replaceAll("\n", "\r\n")}\r\nEOF`
    assert.deepEqual(patchPaths(wrapped), ["src/new.ts", "src/old.ts", "src/renamed.ts", "src/gone.ts"])
  })

  it("returns no paths for a scoped tool with unusable arguments, and undefined for other tools", () => {
    assert.deepEqual(pathsOf("write", { filePath: 3 }), [])
    assert.deepEqual(pathsOf("edit", null), [])
    assert.equal(pathsOf("read", { filePath: "/etc/passwd" }), undefined)
    assert.equal(pathsOf("bash", { command: "rm -rf /" }), undefined)
  })
})

class FakeCore implements CoreCaller {
  readonly calls: unknown[] = []
  next: unknown | Error = { allowed: true }

  async call<T>(_method: string, params?: unknown): Promise<T> {
    this.calls.push(params)
    if (this.next instanceof Error) throw this.next
    return this.next as T
  }
}

function guard() {
  const core = new FakeCore()
  const log = new MemoryLogger()
  const scope = new ScopeGuard({ core, log, timeoutMs: 100 })
  const write = (sessionID: string, filePath: string) => scope.hook({ tool: "write", sessionID }, { args: { filePath, content: "" } })
  return { core, log, scope, write }
}

describe("ScopeGuard", () => {
  it("asks the core with the session, the tool and the paths, and lets an allowed write through", async () => {
    const { core, write } = guard()
    await write("ses_1", "src/a.ts")
    assert.deepEqual(core.calls, [{ sessionId: "ses_1", tool: "write", paths: ["src/a.ts"] }])
  })

  it("does not ask about tools that write no files", async () => {
    const { core, scope } = guard()
    await scope.hook({ tool: "read", sessionID: "s" }, { args: { filePath: "x" } })
    assert.deepEqual(core.calls, [])
  })

  it("refuses with the core's reason, which the model then reads", async () => {
    const { core, write } = guard()
    core.next = { allowed: false, reason: "docs/x.md is outside unit u2 (src/**)", missionId: "m1", unitId: "u2" }
    const error = await rejectionOf(write("ses_w", "docs/x.md"))
    assert.ok(error instanceof ScopeRefusal)
    assert.equal(error.message, "docs/x.md is outside unit u2 (src/**)")
  })

  it("fails closed for a known mission session when the core cannot answer, saying whether to retry", async () => {
    const { core, scope, write } = guard()
    core.next = { allowed: true, missionId: "m1", unitId: "u1" }
    await write("ses_worker", "src/a.ts")
    assert.ok(scope.isMissionSession("ses_worker"))

    core.next = new CoreUnavailableError("restarting", "the orchestrator core exited (exit code 1) and is being restarted")
    const transient = await rejectionOf(write("ses_worker", "src/a.ts"))
    assert.ok(transient instanceof ScopeRefusal)
    assert.match(transient.message, /Retry the same tool call in a few seconds/)

    core.next = new RpcTimeoutError("scope/check", 100)
    assert.match((await rejectionOf(write("ses_worker", "src/a.ts"))).message, /did not answer scope\/check.*Retry/)

    core.next = new CoreUnavailableError("failed", "the orchestrator core stopped working")
    const final = await rejectionOf(write("ses_worker", "src/a.ts"))
    assert.match(final.message, /Do not retry it/)
  })

  it("fails open, with one warning per session, for sessions not known to be a mission's", async () => {
    const { core, log, write } = guard()
    core.next = new CoreUnavailableError("failed", "the orchestrator core stopped working")
    await write("ses_user", "README.md")
    await write("ses_user", "README.md")
    assert.equal(log.records.filter((record) => record.message.includes("allowing the write")).length, 1)
  })

  it("treats an answer of the wrong shape like an unavailable core", async () => {
    const { core, write } = guard()
    core.next = { allowed: true, missionId: "m1" }
    await write("ses_worker", "a")
    core.next = { allowed: "yes" }
    assert.match((await rejectionOf(write("ses_worker", "a"))).message, /no boolean "allowed"/)
  })
})
