/**
 * `devnet`: the main job. Starts a local network in separate OS processes on loopback — V validators
 * producing a chain through the validator path and F fresh full nodes that know one validator as
 * seed, discover the rest, sync and execute — all over real gRPC with authentication and LMDB in a
 * temp dir. It shows live progress (a status line on a TTY, log lines otherwise, JSON events with
 * `--json`) and, with `--commits N --exit-when-synced`, exits 0 once every full node has synced and
 * executed all N commits with a state equal to the validators' and no node banned or penalised another
 * (every devnet node is honest, so any ban is a bug), non-zero otherwise. The summary lists, per node,
 * how many times it banned or penalised each other node.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { createWriteStream, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { NodeStatus } from "../node/runNode.js"
import { devnetGenesis, writeDevnetConfigs, type DevnetNode } from "./layout.js"
import type { ProducerConfig } from "./producer.js"

/** Options of the devnet command. */
export interface DevnetOptions {
  readonly validators: number
  readonly fullnodes: number
  readonly commits?: number
  readonly exitWhenSynced: boolean
  readonly json: boolean
  readonly basePort: number
  readonly plaintext: boolean
  /** Commits per second produced by the validators. */
  readonly rate: number
  readonly commitsPerEpoch: number
  readonly transactionsPerBlock: number
  readonly seed: number
  /** Kill one validator (not the seed) with SIGKILL once a full node has synced this many commits. */
  readonly killValidatorAt?: number
  /** Give up after this long (with --exit-when-synced). */
  readonly timeoutSeconds?: number
  /** Keep the temp dir (stores and logs) after exit. */
  readonly keep?: boolean
}

const projectRoot = join(import.meta.dirname, "../../..")
const cliPath = join(import.meta.dirname, "../cli.ts")
const PROGRESS_INTERVAL_MS = 1_000
const PLAIN_LOG_EVERY = 2
const SHUTDOWN_GRACE_MS = 10_000

interface Running {
  readonly node: DevnetNode
  readonly process: ChildProcess
  ready: boolean
  exited: boolean
  status: NodeStatus | undefined
  /** Bans and penalties it reported against each peer (the most seen: counts restart with the process). */
  readonly penalised: Map<string, { bans: number; penalties: number }>
}

/** Runs the devnet; resolves with the process exit code. */
export const runDevnet = (options: DevnetOptions): Effect.Effect<number> =>
  Effect.promise(() => devnet(options))

const devnet = async (options: DevnetOptions): Promise<number> => {
  const started = Date.now()
  const dir = mkdtempSync(join(tmpdir(), "soma-devnet-"))
  const { chain, nodes } = devnetGenesis({
    validators: options.validators,
    fullnodes: options.fullnodes,
    basePort: options.basePort,
    dir,
    plaintext: options.plaintext,
    seed: options.seed,
    commitsPerEpoch: options.commitsPerEpoch,
    transactionsPerBlock: options.transactionsPerBlock
  })
  writeDevnetConfigs(nodes)
  const emit = (event: Record<string, unknown>) => {
    if (options.json) process.stdout.write(JSON.stringify(event) + "\n")
  }
  const say = (line: string) => {
    if (!options.json) process.stdout.write(line + "\n")
  }
  const tty = !options.json && process.stdout.isTTY === true

  const { validatorAddress: _address, ...chainJson } = chain
  const producer: ProducerConfig = { chain: chainJson, basePort: options.basePort, rate: options.rate, ...(options.commits !== undefined ? { commits: options.commits } : {}) }
  const running: Array<Running> = nodes.map((node) => {
    const args = ["--import", "tsx", cliPath, "devnet-node", "--config", node.configFile]
    if (node.role === "Validator") args.push("--producer", JSON.stringify(producer))
    const child = spawn(process.execPath, args, { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] })
    const entry: Running = { node, process: child, ready: false, exited: false, status: undefined, penalised: new Map() }
    const log = createWriteStream(join(dir, `${node.name}.log`))
    child.stderr?.pipe(log)
    let buffered = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split("\n")
      buffered = lines.pop() ?? ""
      for (const line of lines) {
        try {
          const event = JSON.parse(line) as { event?: string } & Partial<NodeStatus>
          if (event.event === "ready") entry.ready = true
          if (event.event === "status") {
            entry.status = event as NodeStatus
            for (const p of entry.status.penalties ?? []) {
              const seen = entry.penalised.get(p.peerId) ?? { bans: 0, penalties: 0 }
              entry.penalised.set(p.peerId, { bans: Math.max(seen.bans, p.bans), penalties: Math.max(seen.penalties, p.penalties) })
            }
          }
        } catch {
          log.write(`${line}\n`)
        }
      }
    })
    child.on("exit", () => {
      entry.exited = true
    })
    return entry
  })

  let interrupted = false
  const onSignal = () => {
    interrupted = true
  }
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)

  const fullnodes = running.filter((r) => r.node.role === "FullNode")
  const validators = running.filter((r) => r.node.role === "Validator")
  const deadline = started + (options.timeoutSeconds ?? 60 + (options.commits ?? 0) / Math.max(1, options.rate) * 3) * 1000
  let announcedReady = false
  let killed: string | undefined
  let tick = 0
  let lastSynced = 0
  let ok = false
  /** The state digest of a validator that executed all N commits (what every node must end with). */
  let referenceDigest: string | undefined

  while (!interrupted) {
    await new Promise((resolve) => setTimeout(resolve, PROGRESS_INTERVAL_MS))
    tick++
    if (!announcedReady && running.every((r) => r.ready)) {
      announcedReady = true
      emit({ event: "ready", dir, nodes: running.map((r) => ({ name: r.node.name, role: r.node.role, peerId: r.node.peerId, address: r.node.address, metricsPort: r.node.metricsPort })) })
      say(`devnet: ${validators.length} validators and ${fullnodes.length} full node(s) up in ${dir}`)
      for (const r of running) say(`  ${r.node.name.padEnd(12)} ${r.node.peerId.slice(0, 16)}…  ${r.node.address}  metrics :${r.node.metricsPort}`)
    }
    const target = Math.max(0, ...validators.map((v) => v.status?.highestSyncedCommit ?? 0))
    const slowest = Math.min(...fullnodes.map((f) => f.status?.highestSyncedCommit ?? 0))
    const rate = (slowest - lastSynced) / (PROGRESS_INTERVAL_MS / 1000)
    lastSynced = slowest
    emit({
      event: "progress",
      seconds: (Date.now() - started) / 1000,
      target,
      nodes: running.map((r) => ({ name: r.node.name, alive: !r.exited, ...(r.status ?? {}) }))
    })
    const line = fullnodes
      .map((f) => {
        const s = f.status
        return s === undefined
          ? `${f.node.name}: starting`
          : `${f.node.name}: peers ${s.connectedPeers}/${s.knownPeers} synced ${s.highestSyncedCommit}/${Math.max(target, s.targetCommit)} executed ${s.highestExecuted}`
      })
      .join(" | ")
    const summaryLine = `[${((Date.now() - started) / 1000).toFixed(0)}s] validators at ${target} | ${line} | ${rate.toFixed(1)} commits/s`
    if (tty) process.stdout.write(`\r\x1b[K${summaryLine}`)
    else if (tick % PLAIN_LOG_EVERY === 0) say(summaryLine)

    if (options.killValidatorAt !== undefined && killed === undefined && slowest >= options.killValidatorAt && validators.length > 1) {
      const victim = validators[validators.length - 1] as Running
      victim.process.kill("SIGKILL")
      killed = victim.node.name
      emit({ event: "killed", name: killed, atCommit: slowest })
      say(`${tty ? "\n" : ""}devnet: killed ${killed} (SIGKILL) at commit ${slowest}`)
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
        ok = true
        referenceDigest = reference.stateDigest
        break
      }
      if (Date.now() > deadline) break
    }
  }
  if (tty) process.stdout.write("\n")
  // Let every live node report its final height before shutting down (statuses come once a second),
  // so the summary does not compare a node's final state with another's earlier one.
  if (ok && options.commits !== undefined) {
    const n = options.commits
    const settleEnd = Date.now() + 5 * PROGRESS_INTERVAL_MS
    while (running.some((r) => !r.exited && (r.status?.highestExecuted ?? 0) < n) && Date.now() < settleEnd) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  process.off("SIGINT", onSignal)
  process.off("SIGTERM", onSignal)

  // Clean shutdown: SIGTERM, then SIGKILL whatever is still running after the grace period.
  for (const r of running) if (!r.exited) r.process.kill("SIGTERM")
  const graceEnd = Date.now() + SHUTDOWN_GRACE_MS
  while (running.some((r) => !r.exited) && Date.now() < graceEnd) await new Promise((resolve) => setTimeout(resolve, 100))
  const unclean = running.filter((r) => !r.exited).map((r) => r.node.name)
  for (const r of running) if (!r.exited) r.process.kill("SIGKILL")

  const finalReference =
    referenceDigest ??
    [...validators]
      .filter((v) => v.node.name !== killed && v.status !== undefined)
      .sort((a, b) => (b.status?.highestExecuted ?? 0) - (a.status?.highestExecuted ?? 0))[0]?.status?.stateDigest
  const nameOf = new Map<string, string>(running.map((r) => [r.node.peerId, r.node.name]))
  const penalised = running.map((r) =>
    Object.fromEntries([...r.penalised.entries()].map(([peerId, counts]) => [nameOf.get(peerId) ?? peerId.slice(0, 16), counts]))
  )
  const bans = running.reduce((n, r) => n + [...r.penalised.values()].reduce((m, c) => m + c.bans, 0), 0)
  const penalties = running.reduce((n, r) => n + [...r.penalised.values()].reduce((m, c) => m + c.penalties, 0), 0)
  const summary = {
    event: "summary",
    ok: interrupted ? true : ok && bans === 0 && penalties === 0,
    bans,
    penalties,
    commits: options.commits ?? null,
    seconds: (Date.now() - started) / 1000,
    killed: killed ?? null,
    uncleanShutdown: unclean,
    nodes: running.map((r, i) => ({
      name: r.node.name,
      role: r.node.role,
      /** Per other node: how many times this node banned it and penalised it for misbehaviour. */
      penalised: penalised[i] ?? {},
      synced: r.status?.highestSyncedCommit ?? 0,
      executed: r.status?.highestExecuted ?? 0,
      stateDigest: r.status?.stateDigest ?? null,
      stateMatches: r.status !== undefined && finalReference !== undefined && r.status.stateDigest === finalReference
    }))
  }
  emit(summary)
  say(`devnet: ${summary.ok ? "done" : "FAILED"} after ${summary.seconds.toFixed(1)} s` + (options.keep === true ? ` (kept ${dir})` : ""))
  for (const n of summary.nodes) {
    const offences = Object.entries(n.penalised).map(([other, c]) => `${other} (${c.bans} bans, ${c.penalties} penalties)`)
    say(`  ${n.name.padEnd(12)} synced ${n.synced} executed ${n.executed} state ${n.stateMatches ? "matches" : "DIFFERS"}; banned/penalised: ${offences.length === 0 ? "none" : offences.join(", ")}`)
  }
  if (options.keep !== true) rmSync(dir, { recursive: true, force: true })
  return summary.ok ? 0 : 1
}
