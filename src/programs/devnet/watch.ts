/**
 * The watch over a running devnet: once a second it aggregates the nodes' latest reports into a
 * progress event and the live status line, kills a validator when asked to (`--kill-validator-at`),
 * and decides when the run is over — every full node synced and executed all N commits with the
 * validators' state (`--exit-when-synced`), the deadline passed, or every node exited.
 */
import { Effect } from "effect"
import type { NodeProcess } from "./nodeProcess.js"
import type { DevnetOptions } from "./options.js"
import type { Output } from "./output.js"

/** Nodes report their status once a second; polling faster would show nothing new. */
const PROGRESS_INTERVAL_MS = 1_000
/** Without a TTY the live line is a log line: every 2 s keeps a long run's log readable. */
const PLAIN_LOG_EVERY = 2
/** After `--exit-when-synced` succeeds: how long live nodes get to report their final heights. */
const SETTLE_MS = 5 * PROGRESS_INTERVAL_MS

/** How the watch over a running devnet ended (when it was not interrupted). */
export interface Watched {
  readonly synced: boolean
  readonly killed: string | undefined
  /** With `--exit-when-synced`: the state digest every node must end with. */
  readonly referenceDigest: string | undefined
}

/** Tells that every node is up: the ready event, and one line per node for people. */
const announceReady = (processes: ReadonlyArray<NodeProcess>, dir: string, { emit, say, tty }: Output): void => {
  const validators = processes.filter((r) => r.node.role === "Validator")
  const fullnodes = processes.filter((r) => r.node.role === "FullNode")
  emit({
    event: "ready",
    dir,
    pid: process.pid,
    nodes: processes.map((r) => ({ name: r.node.name, role: r.node.role, pid: r.child.pid ?? null, peerId: r.node.peerId, address: r.node.address, metricsPort: r.node.metricsPort }))
  })
  say(`${tty ? "\r\x1b[K" : ""}devnet: ${validators.length} validators and ${fullnodes.length} full node(s) up in ${dir}`)
  for (const r of processes) say(`  ${r.node.name.padEnd(12)} ${r.node.peerId.slice(0, 16)}…  ${r.node.address}  metrics :${r.node.metricsPort}  pid ${r.child.pid ?? "?"}`)
}

/** The live status line: the validators' height, then each full node's peers, synced and executed commits. */
const liveLine = (fullnodes: ReadonlyArray<NodeProcess>, validatorsAt: number, started: number, rate: number): string => {
  // Each node's numbers come from one report of its own (executed ≤ synced ≤ its target); the
  // target shown is at least the validators' height, which comes from their (other) reports.
  const line = fullnodes
    .map((f) => {
      const s = f.status
      return s === undefined
        ? `${f.node.name}: starting`
        : `${f.node.name}: peers ${s.connectedPeers}/${s.knownPeers} synced ${s.highestSyncedCommit}/${Math.max(validatorsAt, s.targetCommit, s.highestSyncedCommit)} executed ${s.highestExecuted}`
    })
    .join(" | ")
  return `[${((Date.now() - started) / 1000).toFixed(0)}s] validators at ${validatorsAt} | ${line} | ${rate.toFixed(1)} commits/s`
}

/** Follows the devnet until it is done (`--exit-when-synced`), times out, or is interrupted. */
export const watchDevnet = (processes: ReadonlyArray<NodeProcess>, options: DevnetOptions, dir: string, started: number, output: Output): Effect.Effect<Watched> =>
  Effect.gen(function* () {
    const { emit, say, tty } = output
    const fullnodes = processes.filter((r) => r.node.role === "FullNode")
    const validators = processes.filter((r) => r.node.role === "Validator")
    const deadline = started + (options.timeoutSeconds ?? 60 + ((options.commits ?? 0) / Math.max(1, options.rate)) * 3) * 1000
    let announcedReady = false
    let killed: string | undefined
    let tick = 0
    let lastSynced = 0
    let reported = 0

    for (;;) {
      yield* Effect.sleep(PROGRESS_INTERVAL_MS)
      tick++
      if (!announcedReady && processes.every((r) => r.ready)) {
        announcedReady = true
        announceReady(processes, dir, output)
      }
      const inconsistent = processes.reduce((n, r) => n + r.inconsistentReports, 0)
      if (inconsistent > reported) {
        reported = inconsistent
        yield* Effect.logError(`a node reported more commits executed than synced (${inconsistent} report(s) so far): a bug`)
      }
      const validatorsAt = Math.max(0, ...validators.map((v) => v.status?.highestSyncedCommit ?? 0))
      const slowest = Math.min(...fullnodes.map((f) => f.status?.highestSyncedCommit ?? 0))
      const rate = (slowest - lastSynced) / (PROGRESS_INTERVAL_MS / 1000)
      lastSynced = slowest
      emit({
        event: "progress",
        seconds: (Date.now() - started) / 1000,
        target: validatorsAt,
        nodes: processes.map((r) => ({ name: r.node.name, alive: !r.exited, ...(r.status ?? {}) }))
      })
      const summaryLine = liveLine(fullnodes, validatorsAt, started, rate)
      if (tty) process.stdout.write(`\r\x1b[K${summaryLine}`)
      else if (tick % PLAIN_LOG_EVERY === 0) say(summaryLine)

      if (options.killValidatorAt !== undefined && killed === undefined && slowest >= options.killValidatorAt && validators.length > 1) {
        const victim = validators[validators.length - 1] as NodeProcess
        victim.child.kill("SIGKILL")
        killed = victim.node.name
        emit({ event: "killed", name: killed, atCommit: slowest })
        say(`${tty ? "\n" : ""}devnet: killed ${killed} (SIGKILL) at commit ${slowest}`)
      }

      if (processes.every((r) => r.exited)) {
        yield* Effect.logError(`every node has exited; their logs are in ${dir}`)
        return { synced: false, killed, referenceDigest: undefined }
      }
      if (options.exitWhenSynced && options.commits !== undefined) {
        const n = options.commits
        const reference = validators.find((v) => !v.exited && (v.status?.highestExecuted ?? 0) >= n)?.status
        const done =
          reference !== undefined &&
          fullnodes.every((f) => {
            const s = f.status
            return s !== undefined && s.highestSyncedCommit >= n && s.highestExecuted >= n && s.stateDigest === reference.stateDigest
          })
        if (done) {
          // Let every live node report its final height before shutting down (statuses come once a
          // second), so the summary does not compare a node's final state with another's earlier one.
          const settleEnd = Date.now() + SETTLE_MS
          while (processes.some((r) => !r.exited && (r.status?.highestExecuted ?? 0) < n) && Date.now() < settleEnd) yield* Effect.sleep(100)
          return { synced: true, killed, referenceDigest: reference.stateDigest }
        }
        if (Date.now() > deadline) return { synced: false, killed, referenceDigest: undefined }
      }
    }
  })
