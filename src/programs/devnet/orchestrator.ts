/**
 * `devnet`: the main job. Starts a local network in separate OS processes on loopback — V validators
 * producing a chain through the validator path and F fresh full nodes that know one validator as
 * seed, discover the rest, sync and execute — all over real gRPC with authentication and LMDB in a
 * temp dir. It shows live progress (a status line on a TTY, log lines otherwise, JSON events with
 * `--json`) and, with `--commits N --exit-when-synced`, exits 0 once every full node has synced and
 * executed all N commits with a state equal to the validators' and no node banned or penalised another
 * (every devnet node is honest, so any ban is a bug), non-zero otherwise. The summary lists, per node,
 * how many times it banned or penalised each other node.
 *
 * Shutdown. The temp dir and every node process are scoped resources: however the devnet ends — done,
 * timed out, or interrupted by SIGINT/SIGTERM (the runtime interrupts the main fiber) — closing the
 * scope stops every node (SIGTERM, then SIGKILL after a grace period, all at once), then the summary is
 * printed and the dir removed (unless `--keep`). Each node also watches its IPC channel to this
 * process and shuts down when it closes, so no node outlives a devnet killed with SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { appendFileSync, closeSync, mkdtempSync, openSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, type Scope } from "effect"
import type { LogFormat } from "../node/NodeConfig.js"
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
  /** The nodes' log format (their logs are in the temp dir); their configs' default otherwise. */
  readonly logFormat?: LogFormat
}

const projectRoot = join(import.meta.dirname, "../../..")
const cliPath = join(import.meta.dirname, "../cli.ts")
const PROGRESS_INTERVAL_MS = 1_000
const PLAIN_LOG_EVERY = 2
/**
 * How long a node gets between SIGTERM and SIGKILL. A node stops in well under a second (server
 * closed, fibers interrupted, store flushed); 6 s leaves room for a loaded machine and keeps the
 * devnet's whole stop — nodes, summary, temp dir — within 10 s of the signal.
 */
const SHUTDOWN_GRACE_MS = 6_000
/** After SIGKILL (or for a node that already exited): how long to wait for its output to end. */
const CLOSE_WAIT_MS = 2_000
/** After `--exit-when-synced` succeeds: how long live nodes get to report their final heights. */
const SETTLE_MS = 5 * PROGRESS_INTERVAL_MS

/** How a node process ended at shutdown. */
export type NodeStop = "SIGTERM" | "SIGKILL" | "exited"

/** One node process of the devnet and what it has reported. */
interface NodeProcess {
  readonly node: DevnetNode
  readonly child: ChildProcess
  /** Its log file: the node's stderr, written by the node itself (so it outlives this process). */
  readonly log: string
  /** Resolves once the process has exited and its output has been read. */
  readonly closed: Promise<void>
  ready: boolean
  exited: boolean
  status: NodeStatus | undefined
  /** Bans and penalties it reported against each peer (the most seen: counts restart with the process). */
  readonly penalised: Map<string, { bans: number; penalties: number }>
  /** Reports with executed > synced: impossible for a correct node (it executes only what it stored). */
  inconsistentReports: number
  stop: NodeStop | undefined
  /** From SIGTERM to the end of its output. */
  stopMs: number | undefined
}

/** How the watch over a running devnet ended (when it was not interrupted). */
interface Watched {
  readonly synced: boolean
  readonly killed: string | undefined
  /** With `--exit-when-synced`: the state digest every node must end with. */
  readonly referenceDigest: string | undefined
}

/** Where the devnet writes: JSON events (`--json`) or lines for people. */
interface Output {
  readonly emit: (event: Record<string, unknown>) => void
  readonly say: (line: string) => void
  readonly tty: boolean
}

/** The temp dir of one run: created in the scope, removed when it closes unless kept. */
const temporaryDirectory = (keep: boolean): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "soma-devnet-"))),
    (dir) => (keep ? Effect.void : Effect.sync(() => rmSync(dir, { recursive: true, force: true, maxRetries: 3 })))
  )

/** Starts one node process, reading its JSON status lines; its stderr and any other output go to its log. */
const spawnNode = (node: DevnetNode, args: ReadonlyArray<string>, dir: string): NodeProcess => {
  const log = join(dir, `${node.name}.log`)
  const logFd = openSync(log, "a")
  // The IPC channel is how the node notices that this process is gone (see `devnet-node` in cli.ts);
  // its stderr goes straight to its log file, so it can log its own shutdown after this process died.
  const child = spawn(process.execPath, args, { cwd: projectRoot, stdio: ["ignore", "pipe", logFd, "ipc"] })
  closeSync(logFd)
  const toLog = (line: string) => {
    try {
      appendFileSync(log, line)
    } catch {
      // a log that cannot be written must not take the devnet down
    }
  }
  let onClosed: () => void = () => undefined
  const closed = new Promise<void>((resolve) => (onClosed = resolve))
  const entry: NodeProcess = {
    node,
    child,
    log,
    closed,
    ready: false,
    exited: false,
    status: undefined,
    penalised: new Map(),
    inconsistentReports: 0,
    stop: undefined,
    stopMs: undefined
  }
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
          const status = event as NodeStatus
          entry.status = status
          if (status.highestExecuted > status.highestSyncedCommit) entry.inconsistentReports++
          for (const p of status.penalties ?? []) {
            const seen = entry.penalised.get(p.peerId) ?? { bans: 0, penalties: 0 }
            entry.penalised.set(p.peerId, { bans: Math.max(seen.bans, p.bans), penalties: Math.max(seen.penalties, p.penalties) })
          }
        }
      } catch {
        toLog(`${line}\n`)
      }
    }
  })
  child.on("exit", () => {
    entry.exited = true
  })
  child.on("error", (error) => {
    entry.exited = true
    toLog(`devnet: cannot run ${node.name}: ${error.message}\n`)
    onClosed()
  })
  child.on("close", () => onClosed())
  return entry
}

/**
 * Whether the process closed within `ms`. One callback rather than a race of two fibers: this runs in
 * finalizers, which are uninterruptible, and so would be a race's losing `sleep` — it would always
 * wait the whole `ms`.
 */
const closedWithin = (p: NodeProcess, ms: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    let settled = false
    const settle = (closed: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(Effect.succeed(closed))
    }
    const timer = setTimeout(() => settle(false), ms)
    void p.closed.then(() => settle(true))
  })

/** Stops a node: SIGTERM, then SIGKILL if it has not exited after the grace period. */
const stopNode = (p: NodeProcess): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (p.exited) {
      p.stop = "exited"
      yield* closedWithin(p, CLOSE_WAIT_MS)
    } else {
      const sent = Date.now()
      p.child.kill("SIGTERM")
      const clean = yield* closedWithin(p, SHUTDOWN_GRACE_MS)
      p.stopMs = Date.now() - sent
      if (clean) {
        p.stop = "SIGTERM"
      } else {
        p.stop = "SIGKILL"
        p.child.kill("SIGKILL")
        yield* closedWithin(p, CLOSE_WAIT_MS)
      }
    }
  })

/** A node process in the current scope: closing the scope stops it. */
const nodeProcess = (node: DevnetNode, args: ReadonlyArray<string>, dir: string): Effect.Effect<NodeProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => spawnNode(node, args, dir)),
    (p) => stopNode(p)
  )

/**
 * Runs the devnet; returns the exit code, which it also sets as `process.exitCode` so that a run stopped
 * by a signal (the main fiber interrupted: the summary is still printed) ends with its verdict too.
 */
export const runDevnet = (options: DevnetOptions): Effect.Effect<number> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.scoped(
      Effect.gen(function* () {
        const started = Date.now()
        const output: Output = {
          emit: (event) => {
            if (options.json) process.stdout.write(JSON.stringify(event) + "\n")
          },
          say: (line) => {
            if (!options.json) process.stdout.write(line + "\n")
          },
          tty: !options.json && process.stdout.isTTY === true
        }
        const dir = yield* temporaryDirectory(options.keep === true)
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
        const { validatorAddress: _address, ...chainJson } = chain
        const producer: ProducerConfig = { chain: chainJson, basePort: options.basePort, rate: options.rate, ...(options.commits !== undefined ? { commits: options.commits } : {}) }
        const argsOf = (node: DevnetNode) => [
          "--import",
          "tsx",
          cliPath,
          "devnet-node",
          "--config",
          node.configFile,
          ...(options.logFormat !== undefined ? ["--log-format", options.logFormat] : []),
          ...(node.role === "Validator" ? ["--producer", JSON.stringify(producer)] : [])
        ]

        // The processes' own scope: closing it stops every node at once, before the summary is made.
        const { processes, watched } = yield* Effect.scoped(
          Effect.gen(function* () {
            const processes = yield* Effect.parallelFinalizers(Effect.forEach(nodes, (node) => nodeProcess(node, argsOf(node), dir)))
            const watched = yield* restore(watch(processes, options, dir, started, output)).pipe(Effect.exit)
            if (output.tty) process.stdout.write("\n")
            if (Exit.isFailure(watched)) output.say(`devnet: stopping ${processes.filter((p) => !p.exited).length} node(s)…`)
            return { processes, watched }
          })
        )
        const code = report(processes, Exit.isSuccess(watched) ? watched.value : undefined, options, dir, started, output)
        process.exitCode = code
        return code
      })
    )
  )

/** Follows the devnet until it is done (`--exit-when-synced`), times out, or is interrupted. */
const watch = (processes: ReadonlyArray<NodeProcess>, options: DevnetOptions, dir: string, started: number, output: Output): Effect.Effect<Watched> =>
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
        emit({
          event: "ready",
          dir,
          pid: process.pid,
          nodes: processes.map((r) => ({ name: r.node.name, role: r.node.role, pid: r.child.pid ?? null, peerId: r.node.peerId, address: r.node.address, metricsPort: r.node.metricsPort }))
        })
        say(`${tty ? "\r\x1b[K" : ""}devnet: ${validators.length} validators and ${fullnodes.length} full node(s) up in ${dir}`)
        for (const r of processes) say(`  ${r.node.name.padEnd(12)} ${r.node.peerId.slice(0, 16)}…  ${r.node.address}  metrics :${r.node.metricsPort}  pid ${r.child.pid ?? "?"}`)
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
      const summaryLine = `[${((Date.now() - started) / 1000).toFixed(0)}s] validators at ${validatorsAt} | ${line} | ${rate.toFixed(1)} commits/s`
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

/** Prints the summary (every node is stopped by now) and returns the exit code. */
const report = (
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
