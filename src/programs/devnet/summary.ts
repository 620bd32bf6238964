/**
 * The devnet's verdict, made once every node is stopped: per node its heights, whether its state
 * matches the validators', how it stopped and whom it banned or penalised; the run is ok only if no
 * node banned or penalised another (every devnet node is honest, so any is a bug), every report was
 * consistent, every node stopped on SIGTERM, and — unless stopped by a signal — all synced.
 */
import type { NodeStatus } from "../node/runNode.js"
import { SHUTDOWN_GRACE_MS, type NodeProcess } from "./nodeProcess.js"
import type { DevnetOptions } from "./options.js"
import type { Output } from "./output.js"
import type { Watched } from "./watch.js"

/** Prints the summary (every node is stopped by now) and returns the exit code. */
export const reportSummary = (
  processes: ReadonlyArray<NodeProcess>,
  watched: Watched | undefined,
  options: DevnetOptions,
  dir: string,
  started: number,
  { emit, say }: Output
): number => {
  const interrupted = watched === undefined
  const killed = watched?.killed
  const validators = processes.filter((r) => r.node.role === "Validator")
  // Synced (`--exit-when-synced`): every node must have the digest of the validator that executed all N
  // commits. Otherwise nodes stopped at different heights, and a state is compared only with the state
  // of the most advanced validator at the same height (null: executed another height, not compared).
  const reference = [...validators]
    .filter((v) => v.node.name !== killed && v.status !== undefined)
    .sort((a, b) => (b.status?.highestExecuted ?? 0) - (a.status?.highestExecuted ?? 0))[0]?.status
  const stateMatches = (s: NodeStatus | undefined): boolean | null => {
    if (s === undefined) return false
    if (watched?.referenceDigest !== undefined) return s.stateDigest === watched.referenceDigest
    if (reference === undefined || s.highestExecuted !== reference.highestExecuted) return null
    return s.stateDigest === reference.stateDigest
  }
  const nameOf = new Map<string, string>(processes.map((r) => [r.node.peerId, r.node.name]))
  const penalised = processes.map((r) =>
    Object.fromEntries([...r.penalised.entries()].map(([peerId, counts]) => [nameOf.get(peerId) ?? peerId.slice(0, 16), counts]))
  )
  const bans = processes.reduce((n, r) => n + [...r.penalised.values()].reduce((m, c) => m + c.bans, 0), 0)
  const penalties = processes.reduce((n, r) => n + [...r.penalised.values()].reduce((m, c) => m + c.penalties, 0), 0)
  const inconsistentReports = processes.reduce((n, r) => n + r.inconsistentReports, 0)
  const unclean = processes.filter((r) => r.stop === "SIGKILL").map((r) => r.node.name)
  // Stopped by a signal, the run is judged on what it did until then. Otherwise the watch ended on its
  // own: all synced (`--exit-when-synced`), or a failure (timed out, every node exited).
  const healthy = bans === 0 && penalties === 0 && inconsistentReports === 0 && unclean.length === 0
  const ok = healthy && (interrupted || watched.synced)
  const summary = {
    event: "summary",
    ok,
    stoppedBySignal: interrupted,
    bans,
    penalties,
    inconsistentReports,
    commits: options.commits ?? null,
    seconds: (Date.now() - started) / 1000,
    killed: killed ?? null,
    uncleanShutdown: unclean,
    dir,
    kept: options.keep === true,
    nodes: processes.map((r, i) => ({
      name: r.node.name,
      role: r.node.role,
      pid: r.child.pid ?? null,
      /** How the process ended at shutdown: SIGTERM (clean), SIGKILL (after the grace period), or it had exited already. */
      stop: r.stop ?? null,
      stopMs: r.stopMs ?? null,
      /** Per other node: how many times this node banned it and penalised it for misbehaviour. */
      penalised: penalised[i] ?? {},
      synced: r.status?.highestSyncedCommit ?? 0,
      executed: r.status?.highestExecuted ?? 0,
      stateDigest: r.status?.stateDigest ?? null,
      stateMatches: stateMatches(r.status)
    }))
  }
  emit(summary)
  const how = interrupted ? "stopped" : ok ? "done" : "FAILED"
  say(`devnet: ${how}${interrupted && !ok ? " (FAILED)" : ""} after ${summary.seconds.toFixed(1)} s` + (options.keep === true ? ` (kept ${dir})` : ""))
  if (unclean.length > 0) say(`  did not stop within ${SHUTDOWN_GRACE_MS / 1000} s of SIGTERM (killed): ${unclean.join(", ")}`)
  if (inconsistentReports > 0) say(`  ${inconsistentReports} status report(s) with more commits executed than synced: a bug`)
  for (const n of summary.nodes) {
    const offences = Object.entries(n.penalised).map(([other, c]) => `${other} (${c.bans} bans, ${c.penalties} penalties)`)
    const stopped = n.stop === "exited" ? "had exited" : `stopped in ${((n.stopMs ?? 0) / 1000).toFixed(1)} s${n.stop === "SIGKILL" ? " (SIGKILL)" : ""}`
    say(`  ${n.name.padEnd(12)} synced ${n.synced} executed ${n.executed} state ${n.stateMatches === null ? "not compared (another height)" : n.stateMatches ? "matches" : "DIFFERS"}; ${stopped}; banned/penalised: ${offences.length === 0 ? "none" : offences.join(", ")}`)
  }
  return ok ? 0 : 1
}
