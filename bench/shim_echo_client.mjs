// `echo` on `serve`, called by the plugin shim's own JSON-RPC client: the client
// users run (plugin-shim/src/rpc.ts, as built by `npm --prefix plugin-shim run
// build`), wired to the child's pipes the way core-process.ts wires it.
//
// Usage: node shim_echo_client.mjs RPC_JS SEQ PIPE WINDOW -- COMMAND...
// Prints one JSON object: sequential calls/s, p50/p99 (µs), pipelined messages/s.
import { spawn } from "node:child_process"
import { once } from "node:events"
import { performance } from "node:perf_hooks"
import { pathToFileURL } from "node:url"

const [rpcPath, seqText, pipeText, windowText, separator, ...command] = process.argv.slice(2)
if (separator !== "--" || command.length === 0) {
  process.stderr.write("usage: node shim_echo_client.mjs RPC_JS SEQ PIPE WINDOW -- COMMAND...\n")
  process.exit(2)
}
const { JsonRpcConnection, LineDecoder } = await import(pathToFileURL(rpcPath).href)
const seq = Number(seqText)
const pipe = Number(pipeText)
const window = Number(windowText)

const child = spawn(command[0], command.slice(1), { stdio: ["pipe", "pipe", "inherit"] })
const complain = (message, fields) => process.stderr.write(`${message} ${JSON.stringify(fields ?? {})}\n`)
const log = { debug() {}, info() {}, warn: complain, error: complain, core() {}, location: "stderr" }
const connection = new JsonRpcConnection({
  send: (line) => {
    child.stdin.write(`${line}\n`)
  },
  log,
  requestTimeoutMs: 60_000,
})
const lines = new LineDecoder()
child.stdout.on("data", (chunk) => {
  for (const line of lines.push(chunk)) connection.handleLine(line)
})

const params = (i) => ({ text: "hello, orchestrator", n: i })
await connection.request("initialize", { clientInfo: { name: "bench-shim" } })
connection.notify("initialized")
for (let i = 0; i < Math.min(500, seq); i++) await connection.request("echo", params(i))

const latencies = []
let started = performance.now()
for (let i = 0; i < seq; i++) {
  const t0 = performance.now()
  await connection.request("echo", params(i))
  latencies.push(performance.now() - t0)
}
const sequentialSeconds = (performance.now() - started) / 1000
latencies.sort((a, b) => a - b)
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 1000

const share = Math.floor(pipe / window)
const worker = async () => {
  for (let i = 0; i < share; i++) await connection.request("echo", params(i))
}
started = performance.now()
await Promise.all(Array.from({ length: window }, worker))
const pipelinedSeconds = (performance.now() - started) / 1000

await connection.request("shutdown")
connection.notify("exit")
child.stdin.end()
if (child.exitCode === null) await once(child, "exit")
process.stdout.write(
  `${JSON.stringify({
    sequential: seq / sequentialSeconds,
    p50_us: at(0.5),
    p99_us: at(0.99),
    pipelined: (share * window) / pipelinedSeconds,
  })}\n`,
)
