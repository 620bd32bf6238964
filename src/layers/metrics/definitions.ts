/**
 * The node's metrics, with their Prometheus names and help text (DESIGN.md §9).
 *
 * Counters and gauges are Effect `Metric`s in Effect's global registry: call sites anywhere in the node
 * update them with `Metric.increment`/`Metric.set`, and `registry.ts` exports them through prom-client at
 * scrape time (every metric in `BRIDGED_METRICS`). The RPC latency histogram is a prom-client histogram
 * (`registry.ts`), observed by `NetworkTimingLayer` through `observeRpcLatency`.
 *
 * Names follow Prometheus conventions: `soma_p2p_` prefix, base units as the last word before `_total`
 * (`_bytes`, `_seconds`), `_total` on counters only. Counters are `incremental`, so a negative increment
 * is ignored rather than breaking monotonicity. Every label value comes from a closed set.
 */
import { Effect, Metric } from "effect"
import type { CallError, DisconnectReason } from "../../services/Network.js"

/** Name, help text and label names of one metric: what the Effect metric and its export share. */
export interface MetricSpec {
  readonly name: string
  readonly help: string
  readonly labelNames: ReadonlyArray<string>
}

const spec = (name: string, help: string, labelNames: ReadonlyArray<string> = []): MetricSpec => ({ name, help, labelNames })

const gaugeOf = (s: MetricSpec) => Metric.gauge(s.name, { description: s.help })
const counterOf = (s: MetricSpec) => Metric.counter(s.name, { description: s.help, incremental: true })

// ---- peers ---------------------------------------------------------------------------------------

const CONNECTED_PEERS = spec("soma_p2p_connected_peers", "Peers this node holds an outbound connection to.")
const KNOWN_PEERS = spec("soma_p2p_known_peers", "Peers in the peer table (discovered, configured or reported).")
const BANNED_PEERS = spec("soma_p2p_banned_peers", "Peers banned now by state sync or the peer manager.")

/** Peers we hold an outbound connection to. */
export const connectedPeers = gaugeOf(CONNECTED_PEERS)

/** Records in the peer table. */
export const knownPeers = gaugeOf(KNOWN_PEERS)

/** Peers banned now, by state sync or by the peer manager (counted once). */
export const bannedPeers = gaugeOf(BANNED_PEERS)

/** Every `DisconnectReason`, pre-registered at 0. */
export const DISCONNECT_REASONS: ReadonlyArray<DisconnectReason> = ["HangUp", "ConnectionLost", "Shutdown"]

const PEER_CONNECTIONS = spec("soma_p2p_peer_connections_total", "Outbound peer connections established.")
const PEER_DISCONNECTS = spec("soma_p2p_peer_disconnects_total", "Outbound peer connections that ended, by reason.", ["reason"])

/** Connections established (from the network's peer events). */
export const peerConnectionsTotal = counterOf(PEER_CONNECTIONS)

/** Connections ended, tagged by `reason`. */
export const peerDisconnectsTotal = counterOf(PEER_DISCONNECTS)

/** Counts one ended connection. */
export const recordDisconnect = (reason: DisconnectReason): Effect.Effect<void> => Metric.increment(Metric.tagged(peerDisconnectsTotal, "reason", reason))

// ---- heights -------------------------------------------------------------------------------------

const CLAIMED_HEIGHT = spec("soma_p2p_claimed_height", "Highest commit index claimed by a usable peer (the sync target).")
const SYNCED_HEIGHT = spec("soma_p2p_synced_height", "Highest commit index verified and stored by this node.")
const CERTIFIED_HEIGHT = spec("soma_p2p_certified_height", "Highest stored commit index whose quorum votes are stored too (what this node can prove and serve).")
const EXECUTOR_HIGHEST_EXECUTED = spec("soma_p2p_executor_highest_executed", "Highest commit index executed by the commit executor.")

/** The sync target: the highest commit a usable peer claims (never below the synced height). */
export const claimedHeight = gaugeOf(CLAIMED_HEIGHT)

/** Everything up to this commit is verified and stored. */
export const syncedHeight = gaugeOf(SYNCED_HEIGHT)

/** The highest commit this node can prove (`SyncStatus.highestCertifiedCommit`). */
export const certifiedHeight = gaugeOf(CERTIFIED_HEIGHT)

/** The executor's watermark (set by the refresh fiber, or by the executor through `setExecutorHighestExecuted`). */
export const executorHighestExecuted = gaugeOf(EXECUTOR_HIGHEST_EXECUTED)

/** Sets the executor watermark gauge: for an executor that reports it itself. */
export const setExecutorHighestExecuted = (index: number): Effect.Effect<void> => Metric.set(executorHighestExecuted, index)

// ---- sync counters -------------------------------------------------------------------------------

const COMMITS_SYNCED = spec("soma_p2p_commits_synced_total", "Commits verified and stored by state sync.")
const BLOCKS_SYNCED = spec("soma_p2p_blocks_synced_total", "Blocks verified and stored by state sync.")
const FETCHED_BYTES = spec("soma_p2p_fetched_bytes_total", "Bytes of commits and blocks fetched from peers by state sync.")

/** Commits delivered by state sync (incremented by the sync loop). */
export const commitsSyncedTotal = counterOf(COMMITS_SYNCED)

/** Blocks delivered by state sync (incremented by the sync loop). */
export const blocksSyncedTotal = counterOf(BLOCKS_SYNCED)

/** Bytes of commits and blocks fetched from peers by state sync (incremented by the sync client). */
export const bytesFetchedTotal = counterOf(FETCHED_BYTES)

/**
 * Why a peer's data was refused. A closed set, so that free-text details never become label values
 * (unbounded label cardinality would blow up the scrape).
 */
export type InvalidDataReason =
  | "invalid_commits" // a FetchCommits answer that fails decoding or verification
  | "withheld_commits" // a peer served none of a range it had already proven it holds
  | "invalid_blocks" // a FetchBlocks answer with a block not asked for, twice, or failing verification
  | "withheld_blocks" // a peer left out blocks of commits it had already proven it holds
  | "unlinked_range" // a verified range the store refused (does not link to the stored chain)

/** Every `InvalidDataReason`, pre-registered at 0 so that alerts see the series before the first offence. */
export const INVALID_DATA_REASONS: ReadonlyArray<InvalidDataReason> = ["invalid_commits", "withheld_commits", "invalid_blocks", "withheld_blocks", "unlinked_range"]

const INVALID_DATA = spec("soma_p2p_invalid_data_total", "Data refused from peers because it failed verification, by reason.", ["reason"])

/** Data refused from peers, by reason (tag `reason`). */
export const invalidDataTotal = counterOf(INVALID_DATA)

/** Counts one refusal of a peer's data. */
export const recordInvalidData = (reason: InvalidDataReason): Effect.Effect<void> =>
  Metric.increment(Metric.tagged(invalidDataTotal, "reason", reason))

// ---- execution -----------------------------------------------------------------------------------

/**
 * How the executor disposed of a transaction (from the counts of `ExecutedCommit`): executed with a
 * state change, executed and failed, skipped as already executed, skipped as undecodable.
 */
export type TransactionOutcome = "succeeded" | "failed" | "duplicate" | "undecodable"

/** Every `TransactionOutcome`, pre-registered at 0. */
export const TRANSACTION_OUTCOMES: ReadonlyArray<TransactionOutcome> = ["succeeded", "failed", "duplicate", "undecodable"]

const EXECUTED_COMMITS = spec("soma_p2p_executed_commits_total", "Commits executed by the commit executor.")
const EXECUTED_TRANSACTIONS = spec("soma_p2p_executed_transactions_total", "Transactions of executed commits, by outcome.", ["outcome"])

/** Commits executed (from the executor's notifications). */
export const executedCommitsTotal = counterOf(EXECUTED_COMMITS)

/** Transactions of executed commits, tagged by `outcome`. */
export const executedTransactionsTotal = counterOf(EXECUTED_TRANSACTIONS)

/** Counts the transactions of one executed commit with the given outcome. */
export const recordTransactions = (outcome: TransactionOutcome, count: number): Effect.Effect<void> =>
  Metric.incrementBy(Metric.tagged(executedTransactionsTotal, "outcome", outcome), count)

// ---- RPC -----------------------------------------------------------------------------------------

/** Latency buckets in seconds: 1 ms (loopback) to 30 s (a long FetchBlocks stream). */
export const RPC_LATENCY_BUCKETS: ReadonlyArray<number> = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** The latency histogram: a prom-client histogram (see `registry.ts`), by `method` and `outcome`. */
export const RPC_LATENCY = spec(
  "soma_p2p_rpc_latency_seconds",
  "Latency of outbound RPCs in seconds (server streams: until the stream ends), by method and outcome.",
  ["method", "outcome"]
)

/** How an outbound call ended. */
export type RpcOutcome = "ok" | "error"

/** Why an outbound call failed: the `_tag` of the network's `CallError` (a closed set). */
export type RpcFailure = CallError["_tag"]

const RPC_RESPONSE_BYTES = spec("soma_p2p_rpc_response_bytes_total", "Encoded response bytes received by outbound RPCs, by method.", ["method"])
const RPC_FAILURES = spec("soma_p2p_rpc_failures_total", "Outbound RPCs that failed, by method and error.", ["method", "error"])

/** Encoded response bytes received by outbound calls, tagged by `method`. */
export const rpcResponseBytesTotal = counterOf(RPC_RESPONSE_BYTES)

/** Failed outbound calls, tagged by `method` and `error`. */
export const rpcFailuresTotal = counterOf(RPC_FAILURES)

/** Per-peer figures are exported for this many peers only (see `PeerTraffic`): bounded cardinality. */
export const TOP_PEERS = 10

/** Per-peer series: the `TOP_PEERS` peers with the most of each (labelled by `peer`, 16 hex digits). */
export const PEER_RECEIVED_BYTES = spec(
  "soma_p2p_peer_received_bytes_total",
  `Encoded response bytes received from a peer by outbound RPCs; only the ${TOP_PEERS} peers that sent the most are listed.`,
  ["peer"]
)
export const PEER_RPC_FAILURES = spec(
  "soma_p2p_peer_rpc_failures_total",
  `Outbound RPCs to a peer that failed; only the ${TOP_PEERS} peers with the most failures are listed.`,
  ["peer"]
)

// ---- the export table ----------------------------------------------------------------------------

/** One Effect metric exported at scrape time, with the type Prometheus sees. */
export type BridgedMetric =
  | { readonly type: "counter"; readonly spec: MetricSpec; readonly metric: Metric.Metric.Counter<number> }
  | { readonly type: "gauge"; readonly spec: MetricSpec; readonly metric: Metric.Metric.Gauge<number> }

const counter = (s: MetricSpec, metric: Metric.Metric.Counter<number>): BridgedMetric => ({ type: "counter", spec: s, metric })
const gauge = (s: MetricSpec, metric: Metric.Metric.Gauge<number>): BridgedMetric => ({ type: "gauge", spec: s, metric })

/**
 * Every Effect metric of the node that `/metrics` exports. Only these are exported: Effect's own
 * runtime metrics (`effect_fiber_*`) and any metric not listed here stay out of the scrape.
 */
export const BRIDGED_METRICS: ReadonlyArray<BridgedMetric> = [
  gauge(CONNECTED_PEERS, connectedPeers),
  gauge(KNOWN_PEERS, knownPeers),
  gauge(BANNED_PEERS, bannedPeers),
  counter(PEER_CONNECTIONS, peerConnectionsTotal),
  counter(PEER_DISCONNECTS, peerDisconnectsTotal),
  gauge(CLAIMED_HEIGHT, claimedHeight),
  gauge(SYNCED_HEIGHT, syncedHeight),
  gauge(CERTIFIED_HEIGHT, certifiedHeight),
  gauge(EXECUTOR_HIGHEST_EXECUTED, executorHighestExecuted),
  counter(COMMITS_SYNCED, commitsSyncedTotal),
  counter(BLOCKS_SYNCED, blocksSyncedTotal),
  counter(FETCHED_BYTES, bytesFetchedTotal),
  counter(INVALID_DATA, invalidDataTotal),
  counter(EXECUTED_COMMITS, executedCommitsTotal),
  counter(EXECUTED_TRANSACTIONS, executedTransactionsTotal),
  counter(RPC_RESPONSE_BYTES, rpcResponseBytesTotal),
  counter(RPC_FAILURES, rpcFailuresTotal)
]

/** Registers every untagged metric, and each reason and outcome, at its zero value (reading a metric registers it). */
export const registerMetrics: Effect.Effect<void> = Effect.all(
  [
    ...BRIDGED_METRICS.filter((m) => m.spec.labelNames.length === 0).map((m) => (m.type === "counter" ? Metric.value(m.metric) : Metric.value(m.metric))),
    ...INVALID_DATA_REASONS.map((reason) => Metric.value(Metric.tagged(invalidDataTotal, "reason", reason))),
    ...DISCONNECT_REASONS.map((reason) => Metric.value(Metric.tagged(peerDisconnectsTotal, "reason", reason))),
    ...TRANSACTION_OUTCOMES.map((outcome) => Metric.value(Metric.tagged(executedTransactionsTotal, "outcome", outcome)))
  ],
  { discard: true }
)
