// The mission agents (planner, worker, reviewer, master-reviewer): their
// definitions and prompts live in the core (`agents/list`); the shim adds
// them to OpenCode's config from the `config` hook, so the core can later
// prompt sessions with `agent: "worker"` and so on.

import { isObject } from "./rpc.ts"
import type { AgentDefinitions } from "./protocol.ts"

/**
 * Merges the core's agents into `config.agent`, field by field, with the
 * user's own definition winning: a user who sets `agent.worker.model` gets
 * the core's prompt with their model, and `{"disable": true}` disables it.
 * Returns the names merged.
 */
export function mergeAgents(config: { agent?: Record<string, unknown> }, definitions: AgentDefinitions): string[] {
  const agents = (config.agent ??= {})
  const merged: string[] = []
  for (const [name, ours] of Object.entries(definitions)) {
    const theirs = agents[name]
    if (theirs !== undefined && !isObject(theirs)) continue // not ours to fix; OpenCode will report it
    agents[name] = theirs === undefined ? { ...ours } : { ...ours, ...theirs }
    merged.push(name)
  }
  return merged
}
