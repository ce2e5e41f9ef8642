// Framing and the JSON-RPC client, with no process: lines in, lines out.

import assert from "node:assert/strict"
import { describe, it } from "node:test"

import { ConnectionClosedError, JsonRpcConnection, LineDecoder, RpcError, RpcTimeoutError } from "../src/rpc.ts"
import { MemoryLogger, rejectionOf } from "./helpers.ts"

describe("LineDecoder", () => {
  it("joins a line split across chunks", () => {
    const decoder = new LineDecoder()
    assert.deepEqual(decoder.push('{"a":'), [])
    assert.deepEqual(decoder.push("1}"), [])
    assert.deepEqual(decoder.push("\n"), ['{"a":1}'])
  })

  it("returns every line of a chunk holding several, keeping the partial tail", () => {
    const decoder = new LineDecoder()
    assert.deepEqual(decoder.push('{"a":1}\n{"b":2}\r\n{"c"'), ['{"a":1}', '{"b":2}'])
    assert.deepEqual(decoder.push(":3}\n"), ['{"c":3}'])
  })

  it("does not break a UTF-8 character split between chunks", () => {
    const bytes = Buffer.from('{"goal":"café ☕"}\n', "utf8")
    const decoder = new LineDecoder()
    const lines: string[] = []
    for (let i = 0; i < bytes.length; i++) lines.push(...decoder.push(bytes.subarray(i, i + 1)))
    assert.deepEqual(lines, ['{"goal":"café ☕"}'])
  })

  it("reads a last line that has no newline at end of input", () => {
    const decoder = new LineDecoder()
    assert.deepEqual(decoder.push('{"a":1}\n{"b":2}'), ['{"a":1}'])
    assert.deepEqual(decoder.end(), ['{"b":2}'])
  })

  it("drops an overlong line without buffering it, and resumes after its newline", () => {
    const overlong: number[] = []
    const decoder = new LineDecoder({ maxLineChars: 10, onOverlong: (length) => overlong.push(length) })
    assert.deepEqual(decoder.push("ok\n0123456789abc"), ["ok"])
    assert.deepEqual(decoder.push("defghij"), [])
    assert.deepEqual(decoder.push("klm\nnext\n"), ["next"])
    assert.deepEqual(overlong, [23])
  })
})

function connection(options: { timeoutMs?: number } = {}) {
  const sent: Record<string, unknown>[] = []
  const notifications: [string, unknown][] = []
  const log = new MemoryLogger()
  const rpc = new JsonRpcConnection({
    send: (line) => sent.push(JSON.parse(line) as Record<string, unknown>),
    log,
    requestTimeoutMs: options.timeoutMs ?? 1_000,
    onNotification: (method, params) => notifications.push([method, params]),
  })
  return { rpc, sent, notifications, log }
}

describe("JsonRpcConnection", () => {
  it("matches responses to requests by id, in any order", async () => {
    const { rpc, sent } = connection()
    const first = rpc.request("echo", { n: 1 })
    const second = rpc.request("echo", { n: 2 })
    assert.deepEqual(
      sent.map((message) => [message.id, message.method]),
      [
        [1, "echo"],
        [2, "echo"],
      ],
    )
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", id: 2, result: "two" }))
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", id: 1, result: "one" }))
    assert.equal(await first, "one")
    assert.equal(await second, "two")
    assert.equal(rpc.pendingCount, 0)
  })

  it("accepts the answers of a batch on one line", async () => {
    const { rpc } = connection()
    const first = rpc.request("a")
    const second = rpc.request("b")
    rpc.handleLine(
      JSON.stringify([
        { jsonrpc: "2.0", id: 2, result: "b" },
        { jsonrpc: "2.0", id: 1, result: "a" },
      ]),
    )
    assert.deepEqual(await Promise.all([first, second]), ["a", "b"])
  })

  it("maps an error response to RpcError with code, message and data", async () => {
    const { rpc } = connection()
    const pending = rpc.request("mission/start", { goal: "" })
    const data = { errors: [{ path: "params.goal", message: "Field required" }] }
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", id: 1, error: { code: -32602, message: "params.goal: Field required", data } }))
    const error = await rejectionOf(pending)
    assert.ok(error instanceof RpcError)
    assert.equal(error.code, -32602)
    assert.equal(error.message, "params.goal: Field required")
    assert.deepEqual(error.data, data)
  })

  it("times a request out, cancels it at the peer, and drops the late answer", async () => {
    const { rpc, sent, log } = connection()
    const pending = rpc.request("diagnostics/sleep", { seconds: 5 }, { timeoutMs: 20 })
    const error = await rejectionOf(pending)
    assert.ok(error instanceof RpcTimeoutError)
    assert.equal(error.method, "diagnostics/sleep")
    assert.deepEqual(sent.at(-1), { jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 1 } })
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", id: 1, result: { slept: 5 } }))
    assert.ok(log.has("warn", "no pending request"))
  })

  it("ignores and logs a line that is not JSON, and keeps working", async () => {
    const { rpc, log } = connection()
    const pending = rpc.request("echo", 1)
    rpc.handleLine("Traceback (most recent call last):")
    rpc.handleLine('{"jsonrpc": "2.0", "id": 1, "result": 1}')
    assert.equal(await pending, 1)
    assert.ok(log.has("warn", "not JSON"))
  })

  it("drops (and logs) messages that are not JSON-RPC 2.0 or malformed responses", async () => {
    const { rpc, log } = connection()
    const pending = rpc.request("echo", 1)
    rpc.handleLine(JSON.stringify({ id: 1, result: "no version" }))
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", id: 1, result: "both", error: { code: 1, message: "x" } }))
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } }))
    assert.equal(rpc.pendingCount, 1)
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", id: 1, result: "fine" }))
    assert.equal(await pending, "fine")
    assert.ok(log.has("warn", "not JSON-RPC 2.0"))
    assert.ok(log.has("warn", "malformed response"))
    assert.ok(log.has("warn", "unattributable"))
  })

  it("hands notifications to the handler, and answers requests from the core with method-not-found", () => {
    const { rpc, sent, notifications } = connection()
    const progress = { missionId: "m1", state: "RUNNING", text: "t", level: "info" }
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", method: "mission/progress", params: progress }))
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", method: "$/progress", params: {} }))
    assert.deepEqual(notifications, [["mission/progress", progress]])
    rpc.handleLine(JSON.stringify({ jsonrpc: "2.0", id: 7, method: "opencode/ask", params: {} }))
    const answer = sent.at(-1) as { id: number; error: { code: number } }
    assert.equal(answer.id, 7)
    assert.equal(answer.error.code, -32601)
  })

  it("fails pending and later requests once closed", async () => {
    const { rpc } = connection()
    const pending = rpc.request("echo", 1)
    rpc.close(new ConnectionClosedError("the core exited"))
    assert.ok((await rejectionOf(pending)) instanceof ConnectionClosedError)
    assert.ok((await rejectionOf(rpc.request("echo", 2))) instanceof ConnectionClosedError)
  })

  it("omits params when there are none and numbers ids consecutively", async () => {
    const { rpc, sent } = connection()
    void rpc.request("shutdown").catch(() => {})
    rpc.notify("exit")
    assert.deepEqual(sent, [
      { jsonrpc: "2.0", id: 1, method: "shutdown" },
      { jsonrpc: "2.0", method: "exit" },
    ])
    rpc.close(new ConnectionClosedError("done"))
  })
})
