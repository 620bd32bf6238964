/**
 * Runs a chaos scenario end to end: starts the cluster (cluster.ts), injects the planned faults when the
 * validators reach each fault's commit — partitions healed and slow links restored after their time,
 * killed nodes started again on their stores after their down time — waits until every node has
 * executed every commit with one state digest, and checks what a user would notice: every full node
 * and every validator at the last commit with the validators' state digest, every killed node back and
 * caught up, no node crashed, and no node banned or penalised another (every node is honest). The
 * report carries the plan, a timeline with every node's heights at each event, and on failure the tail
 * of each node's log. The cluster is torn down (processes, links, temp dir) before `runChaos` returns,
 * whatever happened.
 */
import { Duration, Effect } from "effect"
import { startCluster, type Cluster, type ClusterOptions, type PairLink } from "./cluster.js"
import type { NodeProcess, Offences } from "./nodeProcess.js"
import { describeFault, Fault, planFaults, type ChaosScenario, type PlannedFault } from "./scenario.js"

/** How often the runner looks at the nodes' statuses (they report once a second). */
const POLL_INTERVAL = Duration.millis(250)
/** Every node must be ready this long after its processes started. */
const READY_TIMEOUT_MS = 90_000
/** A live node whose synced height has not moved for this long while the validators are above it is reported as stalled. */
const STALL_REPORT_MS = 20_000
/** Once every fault has ended, a node stalled this long fails the run at once (rather than at the timeout). */
const STALL_FAIL_MS = 45_000
/** After convergence, statuses each node must still report (late bans are seen), waited for at most `SETTLE_TIMEOUT_MS`. */
const SETTLE_STATUSES = 2
const SETTLE_TIMEOUT_MS = 5_000

/** Something that happened, with every node's heights at that moment. */
export interface TimelineEntry {
  /** Since the run started. */
  readonly atMs: number
  readonly text: string
  /** `v0 120/118 … f1 down`: highest synced / highest executed per node. */
  readonly heights: string
}

/** A node at the end of the run. */
export interface NodeSummary {
  readonly name: string
  readonly role: "Validator" | "FullNode"
  readonly incarnations: number
  readonly running: boolean
  readonly highestSyncedCommit: number | undefined
  readonly highestExecuted: number | undefined
  readonly stateDigest: string | undefined
  readonly mostBannedPeers: number
  /** Per other node: bans and penalties this node reported against it, all incarnations. */
  readonly offences: Readonly<Record<string, Offences>>
  readonly unexpectedExits: ReadonlyArray<string>
  /** The last lines of its log (kept for failed runs). */
  readonly logTail: ReadonlyArray<string>
}

/** The outcome of a chaos run. */
export interface ChaosReport {
  readonly ok: boolean
  readonly scenario: ChaosScenario
  readonly seconds: number
  /** Empty when the run passed. */
  readonly problems: ReadonlyArray<string>
  readonly plan: ReadonlyArray<PlannedFault>
  readonly timeline: ReadonlyArray<TimelineEntry>
  readonly nodes: ReadonlyArray<NodeSummary>
  /** Whether the nodes' statuses carry `penalties` (else only `bannedPeers` could be checked). */
  readonly penaltiesReported: boolean
}

const shortName = (name: string): string => name.replace(/^validator-/, "v").replace(/^fullnode-/, "f")

const heightsOf = (nodes: ReadonlyArray<NodeProcess>): string =>
  nodes
    .map((n) => {
      const s = n.status
      const where = !n.running ? "down" : s === undefined ? "starting" : `${s.highestSyncedCommit}/${s.highestExecuted}`
      return `${shortName(n.name)} ${where}`
    })
    .join("  ")

/** The validators' height: the highest commit any live validator has stored. */
const networkHeight = (cluster: Cluster): number =>
  Math.max(0, ...cluster.nodes.filter((n) => n.role === "Validator" && n.running).map((n) => n.status?.highestSyncedCommit ?? 0))

/** Every node up, at the last commit, executed, with one state digest. */
const converged = (cluster: Cluster, commits: number): boolean => {
  const statuses = cluster.nodes.map((n) => (n.running && n.ready ? n.status : undefined))
  const digests = new Set(statuses.map((s) => s?.stateDigest))
  return statuses.every((s) => s !== undefined && s.highestSyncedCommit >= commits && s.highestExecuted >= commits) && digests.size === 1
}

/** Why the final state is wrong (nothing when it is right). */
const finalProblems = (cluster: Cluster, scenario: ChaosScenario, plan: ReadonlyArray<PlannedFault>): Array<string> => {
  const problems: Array<string> = []
  const n = scenario.commits
  const nameOf = new Map(cluster.nodes.map((p) => [p.options.peerId, p.name]))
  const validatorDigests = new Set(cluster.nodes.filter((p) => p.role === "Validator" && p.status?.highestExecuted === n).map((p) => p.status?.stateDigest))
  const reference = validatorDigests.size === 1 ? [...validatorDigests][0] : undefined
  if (validatorDigests.size > 1) problems.push(`the validators disagree on the state digest at commit ${n}: ${[...validatorDigests].map((d) => d?.slice(0, 16)).join(", ")}`)
  for (const p of cluster.nodes) {
    const s = p.status
    if (!p.running) problems.push(`${p.name} is not running`)
    else if (s === undefined) problems.push(`${p.name} reported no status since its last start`)
    else {
      if (s.highestExecuted < n)
        problems.push(`${p.name} executed ${s.highestExecuted} of ${n} commits (synced ${s.highestSyncedCommit}, target ${s.targetCommit}, ${s.connectedPeers} peers connected)`)
      else if (reference !== undefined && s.stateDigest !== reference)
        problems.push(`${p.name} executed ${s.highestExecuted} commits but its state digest ${s.stateDigest.slice(0, 16)}… differs from the validators' ${reference.slice(0, 16)}…`)
    }
    for (const how of p.unexpectedExits) problems.push(`${p.name} exited without being killed (${how})`)
    if (p.mostBannedPeers > 0) problems.push(`${p.name} reported ${p.mostBannedPeers} banned peer(s); every node is honest`)
    for (const [peerId, c] of p.offences()) {
      if (c.bans > 0 || c.penalties > 0)
        problems.push(`${p.name} banned ${nameOf.get(peerId) ?? peerId.slice(0, 16)} ${c.bans} time(s) and penalised it ${c.penalties} time(s); every node is honest`)
    }
  }
  for (const p of cluster.nodes) {
    const kills = plan.filter((f) => f.fault._tag === "Kill" && f.fault.node === p.name).length
    if (p.incarnations !== 1 + kills) problems.push(`${p.name} was started ${p.incarnations} time(s), expected ${1 + kills} (${kills} kill(s) planned)`)
  }
  return problems
}

interface ActiveFault {
  readonly endsAtMs: number
  readonly end: Effect.Effect<void>
}

interface CatchUp {
  readonly node: string
  readonly target: number
  readonly sinceMs: number
  readonly after: string
}

/** How a run is done (not part of the scenario). */
export type RunOptions = Omit<ClusterOptions, "onEvent">

/** Runs the scenario on a fresh cluster and reports; never fails (a failed run is a report with problems). */
export const runChaos = (scenario: ChaosScenario, options: RunOptions = {}): Effect.Effect<ChaosReport> =>
  Effect.scoped(
    Effect.gen(function* () {
      const started = Date.now()
      const elapsed = () => Date.now() - started
      const plan = planFaults(scenario)
      const timeline: Array<TimelineEntry> = []
      let cluster: Cluster | undefined
      const record = (text: string) => timeline.push({ atMs: elapsed(), text, heights: cluster === undefined ? "" : heightsOf(cluster.nodes) })

      const startedCluster = yield* Effect.either(startCluster(scenario, { ...options, onEvent: record }))
      if (startedCluster._tag === "Left") {
        return { ok: false, scenario, seconds: elapsed() / 1000, problems: [`the cluster did not start: ${startedCluster.left.message}`], plan, timeline, nodes: [], penaltiesReported: false }
      }
      cluster = startedCluster.right
      const c = cluster
      record(`${c.nodes.length} nodes started (${c.links.length} links, base port ${c.basePort})`)
      const problems: Array<string> = []
      const deadline = started + scenario.timeoutMs

      const readyBy = Date.now() + READY_TIMEOUT_MS
      const crashed = () => c.nodes.some((n) => n.unexpectedExits.length > 0)
      while (!c.nodes.every((n) => n.ready) && !crashed() && Date.now() < Math.min(readyBy, deadline)) yield* Effect.sleep(POLL_INTERVAL)
      if (crashed()) problems.push("stopped early: a node exited without being killed")
      else if (!c.nodes.every((n) => n.ready)) problems.push(`not ready within ${READY_TIMEOUT_MS / 1000} s: ${c.nodes.filter((n) => !n.ready).map((n) => n.name).join(", ")}`)
      else record("all nodes ready")

      // Links cut or slowed by overlapping faults stay so until the last of those faults ends.
      const cuts = new Map<PairLink, number>()
      const slowed = new Map<PairLink, number>()
      const linkOp = (links: ReadonlyArray<PairLink>, op: (l: PairLink) => Promise<void>) =>
        Effect.promise(() => Promise.all(links.map(op))).pipe(Effect.asVoid)
      const adjust = (counts: Map<PairLink, number>, links: ReadonlyArray<PairLink>, delta: 1 | -1): Array<PairLink> =>
        links.filter((l) => {
          const before = counts.get(l) ?? 0
          counts.set(l, before + delta)
          return delta === 1 ? before === 0 : before === 1
        })

      const pending = [...plan]
      const active: Array<ActiveFault> = []
      const catchUps: Array<CatchUp> = []
      // Per node: its synced height and since when it has stood there (restarts reset it).
      const progress = new Map<string, { height: number; sinceMs: number; incarnation: number; reported: boolean }>()
      const watchStalls = (height: number) => {
        for (const n of c.nodes) {
          const synced = n.status?.highestSyncedCommit
          const seen = progress.get(n.name)
          if (synced === undefined || !n.running) continue
          if (seen === undefined || seen.height !== synced || seen.incarnation !== n.incarnations) {
            if (seen?.reported === true) record(`${n.name} moves again (synced ${synced})`)
            progress.set(n.name, { height: synced, sinceMs: elapsed(), incarnation: n.incarnations, reported: false })
          } else if (!seen.reported && synced < height && elapsed() - seen.sinceMs >= STALL_REPORT_MS) {
            progress.set(n.name, { ...seen, reported: true })
            record(`${n.name} STALLED: synced ${synced} for ${STALL_REPORT_MS / 1000} s while the validators are at ${height} (its target ${n.status?.targetCommit})`)
            const snapshot = n.processSnapshot()
            if (snapshot !== undefined) record(`${n.name} process: ${snapshot}`)
          }
        }
      }
      const nodeDown = (n: NodeProcess) => !n.running || !n.ready

      const canStart = (fault: Fault): boolean =>
        Fault.$match(fault, {
          Partition: () => true,
          SlowLink: () => true,
          Kill: (f) =>
            !nodeDown(c.node(f.node)) && (f.role === "FullNode" || c.nodes.every((n) => n.role !== "Validator" || n.name === f.node || !nodeDown(n)))
        })

      const start = (planned: PlannedFault): Effect.Effect<ActiveFault> =>
        Fault.$match(planned.fault, {
          Partition: (f) =>
            Effect.gen(function* () {
              const links = c.links.filter((l) => (l.from === f.fullnode && l.to !== f.keeps) || (l.to === f.fullnode && l.from !== f.keeps))
              yield* linkOp(adjust(cuts, links, 1), (l) => l.link.cut())
              record(`partition: ${f.fullnode} cut from all but ${f.keeps} (${links.length} links)`)
              return {
                endsAtMs: elapsed() + f.durationMs,
                end: Effect.gen(function* () {
                  yield* linkOp(adjust(cuts, links, -1), (l) => l.link.heal())
                  record(`partition healed: ${f.fullnode}`)
                  catchUps.push({ node: f.fullnode, target: networkHeight(c), sinceMs: elapsed(), after: "the partition healed" })
                })
              }
            }),
          SlowLink: (f) =>
            Effect.gen(function* () {
              const links = c.links.filter((l) => l.from === f.validator || l.to === f.validator)
              yield* linkOp(adjust(slowed, links, 1), (l) => l.link.set(f.conditions))
              record(`slow links: ${f.validator}'s ${links.length} links at ${f.conditions.oneWayDelayMs / 1000} s one way`)
              return {
                endsAtMs: elapsed() + f.durationMs,
                end: Effect.gen(function* () {
                  yield* linkOp(adjust(slowed, links, -1), (l) => l.link.set(l.conditions))
                  record(`slow links restored: ${f.validator}`)
                })
              }
            }),
          Kill: (f) =>
            Effect.gen(function* () {
              const victim = c.node(f.node)
              yield* Effect.promise(() => victim.kill("SIGKILL"))
              record(`SIGKILL ${f.node} (down for ${(f.downMs / 1000).toFixed(1)} s)`)
              return {
                endsAtMs: elapsed() + f.downMs,
                end: Effect.sync(() => {
                  victim.start()
                  record(`restarted ${f.node}`)
                  catchUps.push({ node: f.node, target: networkHeight(c), sinceMs: elapsed(), after: "its restart" })
                })
              }
            })
        })

      let convergedAt: number | undefined
      while (problems.length === 0) {
        const height = networkHeight(c)
        for (const planned of [...pending]) {
          if (planned.atCommit > height || !canStart(planned.fault)) continue
          pending.splice(pending.indexOf(planned), 1)
          active.push(yield* start(planned))
        }
        for (const fault of [...active]) {
          if (fault.endsAtMs > elapsed()) continue
          active.splice(active.indexOf(fault), 1)
          yield* fault.end
        }
        watchStalls(height)
        for (const catchUp of [...catchUps]) {
          const status = c.node(catchUp.node).status
          if (status === undefined || status.highestSyncedCommit < catchUp.target) continue
          catchUps.splice(catchUps.indexOf(catchUp), 1)
          record(`${catchUp.node} caught up to ${catchUp.target} ${((elapsed() - catchUp.sinceMs) / 1000).toFixed(1)} s after ${catchUp.after}`)
        }
        if (pending.length === 0 && active.length === 0 && converged(c, scenario.commits)) {
          convergedAt = elapsed()
          record(`every node executed all ${scenario.commits} commits with one state digest`)
          break
        }
        const stalled = [...progress.entries()].filter(([, p]) => p.reported && elapsed() - p.sinceMs >= STALL_FAIL_MS)
        if (pending.length === 0 && active.length === 0 && stalled.length > 0) {
          problems.push(`stopped early: ${stalled.map(([name, p]) => `${name} stalled at ${p.height}`).join(", ")} for ${STALL_FAIL_MS / 1000} s or more, with every fault over`)
          break
        }
        if (crashed()) {
          // A crash is a failure whatever follows; the details are in the final problems and the logs.
          problems.push("stopped early: a node exited without being killed")
          break
        }
        if (Date.now() > deadline) {
          const waitingFor =
            pending.length > 0
              ? `${pending.length} fault(s) never started (validators at ${height}; next at commit ${pending[0]?.atCommit})`
              : active.length > 0
                ? `${active.length} fault(s) still active`
                : `every node to execute all ${scenario.commits} commits with one state digest`
          problems.push(`timed out after ${(scenario.timeoutMs / 1000).toFixed(0)} s waiting for ${waitingFor}`)
          break
        }
        yield* Effect.sleep(POLL_INTERVAL)
      }

      for (const [name, p] of progress) {
        const snapshot = p.reported ? c.node(name).processSnapshot() : undefined
        if (snapshot !== undefined) record(`${name} still stalled at ${p.height}; process: ${snapshot}`)
      }
      if (convergedAt !== undefined) {
        // A ban in the last second shows in the next status: wait for a couple more from everyone.
        const counts = c.nodes.map((n) => n.statusCount)
        const settleEnd = Date.now() + SETTLE_TIMEOUT_MS
        while (c.nodes.some((n, i) => n.statusCount < (counts[i] ?? 0) + SETTLE_STATUSES) && Date.now() < settleEnd) yield* Effect.sleep(POLL_INTERVAL)
      }
      problems.push(...finalProblems(c, scenario, plan))
      const penaltiesReported = c.nodes.some((n) => n.reportsPenalties)
      const nameOf = new Map(c.nodes.map((p) => [p.options.peerId, p.name]))
      const nodes: Array<NodeSummary> = c.nodes.map((n) => ({
        name: n.name,
        role: n.role,
        incarnations: n.incarnations,
        running: n.running,
        highestSyncedCommit: n.status?.highestSyncedCommit,
        highestExecuted: n.status?.highestExecuted,
        stateDigest: n.status?.stateDigest,
        mostBannedPeers: n.mostBannedPeers,
        offences: Object.fromEntries([...n.offences()].map(([peerId, o]) => [nameOf.get(peerId) ?? peerId.slice(0, 16), o])),
        unexpectedExits: n.unexpectedExits,
        logTail: problems.length > 0 ? n.logTail(100) : []
      }))
      return { ok: problems.length === 0, scenario, seconds: elapsed() / 1000, problems, plan, timeline, nodes, penaltiesReported }
    })
  )

/** The report as text: verdict, problems, plan, timeline, nodes and, for a failed run, each node's last log lines. */
export const formatReport = (report: ChaosReport, options: { readonly logLines?: number } = {}): string => {
  const { scenario } = report
  const lines: Array<string> = []
  lines.push(
    `chaos seed ${scenario.seed}: ${report.ok ? "passed" : "FAILED"} in ${report.seconds.toFixed(1)} s — ${scenario.validators} validators, ${scenario.fullnodes} full nodes, ${scenario.commits} commits at ${scenario.rate}/s, ${scenario.transactionsPerBlock} tx/block (replay: CHAOS_SEED=${scenario.seed})`
  )
  if (report.problems.length > 0) lines.push("problems:", ...report.problems.map((p) => `  - ${p}`))
  if (!report.penaltiesReported && report.nodes.some((n) => n.highestSyncedCommit !== undefined))
    lines.push("note: the nodes' statuses carry no `penalties`; only `bannedPeers` was checked")
  lines.push("plan:", ...report.plan.map((p) => `  at commit ${String(p.atCommit).padStart(4)}: ${describeFault(p.fault)}`))
  lines.push("timeline (per node: highest synced / highest executed):")
  for (const e of report.timeline) lines.push(`  +${(e.atMs / 1000).toFixed(1).padStart(6)} s  ${e.text.padEnd(72)}  ${e.heights}`)
  lines.push("nodes:")
  for (const n of report.nodes) {
    const offences = Object.entries(n.offences).map(([other, o]) => `${other} (${o.bans} bans, ${o.penalties} penalties)`)
    lines.push(
      `  ${n.name.padEnd(12)} ${n.running ? "up  " : "DOWN"} started ${n.incarnations}× synced ${n.highestSyncedCommit ?? "-"} executed ${n.highestExecuted ?? "-"} digest ${n.stateDigest?.slice(0, 16) ?? "-"} banned/penalised: ${offences.length === 0 ? "none" : offences.join(", ")}`
    )
  }
  const logLines = options.logLines ?? 30
  for (const n of report.nodes) {
    if (n.logTail.length === 0) continue
    lines.push(`--- ${n.name}: last ${Math.min(logLines, n.logTail.length)} log lines ---`, ...n.logTail.slice(-logLines))
  }
  return lines.join("\n")
}
