// The OpenCode plugin entry: opencode.json names this file, e.g.
//   "plugin": [["/path/to/plugin-shim/src/index.ts",
//               {"command": ["python3", "-m", "opencode_orchestrator", "serve"]}]]
//
// Only the default export lives here: OpenCode 1.18.33 calls every export of a
// plugin file as a plugin ("Plugin export is not a function" otherwise), so
// helpers are exported from the other files. Imports from @opencode-ai/plugin
// are type-only; the plugin runs with no node_modules at all.

import type { Plugin } from "@opencode-ai/plugin"

import { createShim } from "./plugin.ts"
import { clientUpstream } from "./proxy.ts"
import { clientUi } from "./ui.ts"

const orchestratorShim: Plugin = async (input, options) => {
  const shim = createShim(
    {
      directory: input.directory,
      worktree: input.worktree,
      serverUrl: () => input.serverUrl.href,
      // In the TUI without --port this fetch calls the server in process.
      upstream: () => clientUpstream(input.client),
      ui: (log) => clientUi(input.client, log),
      env: process.env,
    },
    options,
  )
  return shim.hooks
}

export default orchestratorShim
