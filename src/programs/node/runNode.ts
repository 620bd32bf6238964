/**
 * Runs a node from its configuration until interrupted (SIGINT/SIGTERM through the runtime): the P2P
 * layer from `P2pBuilder`, a status report every interval, and — on a devnet validator — the commit
 * producer. Interruption closes every scope: the server stops, fibers end, the store is flushed.
 */
import { Effect, Layer, Schedule } from "effect"
import { CommitExecutorLayer } from "../../layers/executor/CommitExecutorLayer.js"
import { MetricsLayer } from "../../layers/metrics/MetricsLayer.js"
import { warnIfSlow } from "../../layers/status/slowWarning.js"
import { CommitExecutor } from "../../services/CommitExecutor.js"
import { toHex } from "../../domain/bytes.js"
import { Discovery } from "../../services/Discovery.js"
import { Network } from "../../services/Network.js"
import { PeerManager } from "../../services/PeerManager.js"
import { StateSync } from "../../services/StateSync.js"
import { produceCommits, type ProducerConfig } from "../devnet/producer.js"
import type { NodeConfig } from "./NodeConfig.js"
import { configPeerId, p2pLayer } from "./P2pBuilder.js"

/** What a node reports about itself, periodically. */
export interface NodeStatus {
  readonly name: string
  readonly peerId: string
  readonly connectedPeers: number
  readonly knownPeers: number
  readonly highestSyncedCommit: number
  /** The highest commit it can prove (quorum votes stored): what it advertises and serves. */
  readonly highestCertifiedCommit: number
  readonly targetCommit: number
  readonly epoch: number
  readonly bannedPeers: number
  readonly highestExecuted: number
  readonly stateDigest: string
  /** Peers this node banned or penalised for misbehaviour (faults such as timeouts do not count); non-zero entries only. */
  readonly penalties: ReadonlyArray<{ readonly peerId: string; readonly bans: number; readonly penalties: number }>
}

/** How `runNode` reports. */
export interface RunNodeOptions {
  readonly statusIntervalMs?: number
  readonly onReady?: (ready: { readonly name: string; readonly peerId: string; readonly address: string }) => Effect.Effect<void>
  readonly onStatus?: (status: NodeStatus) => Effect.Effect<void>
  readonly producer?: ProducerConfig
}

const DEFAULT_STATUS_INTERVAL_MS = 1_000
/** How long a status step may take before the node logs which one is pending (each takes milliseconds). */
const SLOW_STEP_WARNING_MS = 5_000
/** The last report on shutdown waits at most this long. */
const FINAL_REPORT_TIMEOUT_MS = 2_000

/**
 * One step of the status report, with a warning if it is still pending after 5 s: a report that
 * stops coming (seen once in CI: a validator's reports stopped and it ignored SIGTERM) then says
 * which service it waits for.
 */
const watched = <A, E, R>(step: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  warnIfSlow(`status report: ${step}`, SLOW_STEP_WARNING_MS)(effect)


/** Runs the node until interrupted; logs when it starts stopping and how long stopping took. */
export const runNode = (config: NodeConfig, options: RunNodeOptions = {}) => {
  const name = config.name ?? configPeerId(config).slice(0, 8)
  let stopping: number | undefined
  return Effect.gen(function* () {
    const network = yield* Network
    const sync = yield* StateSync
    const discovery = yield* Discovery
    const executor = yield* CommitExecutor
    const peerManager = yield* PeerManager
    yield* Effect.logInfo(`node ${name} (${network.localPeerId}) listening on ${network.listenAddress}`)
    if (options.onReady !== undefined) yield* options.onReady({ name, peerId: network.localPeerId, address: network.listenAddress })

    const report = Effect.gen(function* () {
      // The executor only runs stored commits and the status's target is never below what is stored,
      // so reading the executor first makes every report satisfy executed ≤ synced ≤ target. Read the
      // other way round, a commit synced and executed between the two reads showed as executed 37
      // next to synced 35 (reading the executor waits for its write lock).
      const state = yield* watched("executor.stateDigest", executor.stateDigest)
      const status = yield* watched("sync.status", sync.status)
      const peers = yield* watched("discovery.snapshot", discovery.snapshot)
      const executed = { highestExecuted: state.highestExecuted, stateDigest: toHex(state.digest) }
      const offences = yield* watched("peerManager.offenceCounts", peerManager.offenceCounts)
      const nodeStatus: NodeStatus = {
        name,
        peerId: network.localPeerId,
        connectedPeers: peers.connected.length,
        knownPeers: peers.known.length,
        highestSyncedCommit: status.highestSyncedCommit,
        highestCertifiedCommit: status.highestCertifiedCommit,
        targetCommit: status.targetCommit,
        epoch: status.epoch,
        bannedPeers: status.bannedPeers,
        ...executed,
        penalties: offences.filter((o) => o.bans > 0 || o.penalties > 0).map(({ bans, peerId, penalties }) => ({ peerId, bans, penalties }))
      }
      if (options.onStatus !== undefined) yield* options.onStatus(nodeStatus)
    }).pipe(Effect.catchAll((e) => Effect.logWarning(`status unavailable: ${e.message}`)))
    yield* report.pipe(Effect.repeat(Schedule.spaced(options.statusIntervalMs ?? DEFAULT_STATUS_INTERVAL_MS)), Effect.forkScoped)
    // On shutdown, one last report while every service still runs: the final heights, not ones up to an interval old.
    // Bounded: a report that cannot complete must not keep the node from stopping.
    yield* Effect.addFinalizer(() => Effect.ignore(Effect.timeout(report, FINAL_REPORT_TIMEOUT_MS)))

    if (options.producer !== undefined) {
      const producer = options.producer
      yield* produceCommits(sync, producer).pipe(
        Effect.tap((n) => Effect.logInfo(`produced ${n} commits; serving only from now on`)),
        Effect.forkScoped
      )
    }
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() =>
        Effect.suspend(() => {
          stopping = Date.now()
          return Effect.logInfo(`node ${name} stopping`)
        })
      )
    )
  }).pipe(
    Effect.scoped,
    Effect.provide(nodeLayer(config)),
    Effect.ensuring(Effect.suspend(() => (stopping === undefined ? Effect.void : Effect.logInfo(`node ${name} stopped in ${Date.now() - stopping} ms`))))
  )
}

/**
 * The node's services: the P2P layer, the reference executor over its commit stream (standing in for
 * the authority module), and the metrics endpoint on top when a metrics port is configured.
 */
const nodeLayer = (config: NodeConfig) => {
  const p2p = p2pLayer(config)
  const genesis = { committee: config.genesisCommittee, balances: config.genesisBalances.map((b) => [b.account, b.balance] as const) }
  const withExecutor = CommitExecutorLayer({ genesis }).pipe(Layer.provideMerge(p2p))
  return config.metricsPort === undefined ? withExecutor : MetricsLayer({ port: config.metricsPort }).pipe(Layer.provideMerge(withExecutor))
}
