/**
 * The node's metrics, as Effect `Metric`s in the global registry, with Prometheus names and help text.
 * Gauges are set by `MetricsLayer`'s refresh fiber from the services' status; counters are incremented
 * where the events happen (state sync, the `NetworkTimingLayer` decorator). Counters are `incremental`,
 * so a negative increment is ignored rather than breaking Prometheus's monotonicity.
 */
import { Effect, Metric, MetricBoundaries } from "effect"

// ---- peers ---------------------------------------------------------------------------------------

/** Peers we hold an outbound connection to. */
export const connectedPeers = Metric.gauge("soma_p2p_connected_peers", {
  description: "Peers this node holds an outbound connection to."
})

/** Records in the peer table. */
export const knownPeers = Metric.gauge("soma_p2p_known_peers", {
  description: "Peers in the peer table (discovered, configured or reported)."
})

/** Peers banned now, by state sync or by the peer manager (counted once). */
export const bannedPeers = Metric.gauge("soma_p2p_banned_peers", {
  description: "Peers banned now by state sync or the peer manager."
})

// ---- heights -------------------------------------------------------------------------------------

/** The sync target: the highest commit a usable peer claims (never below the synced height). */
export const claimedHeight = Metric.gauge("soma_p2p_claimed_height", {
  description: "Highest commit index claimed by a usable peer (the sync target)."
})

/** Everything up to this commit is verified and stored. */
export const syncedHeight = Metric.gauge("soma_p2p_synced_height", {
  description: "Highest commit index verified and stored by this node."
})

/** The executor's watermark (set by the refresh fiber, or by the executor through `setExecutorHighestExecuted`). */
export const executorHighestExecuted = Metric.gauge("soma_p2p_executor_highest_executed", {
  description: "Highest commit index executed by the commit executor."
})

/** Sets the executor watermark gauge: for an executor that reports it itself. */
export const setExecutorHighestExecuted = (index: number): Effect.Effect<void> => Metric.set(executorHighestExecuted, index)

// ---- sync counters -------------------------------------------------------------------------------

/** Commits delivered by state sync (incremented by the sync loop). */
export const commitsSyncedTotal = Metric.counter("soma_p2p_commits_synced_total", {
  description: "Commits verified and stored by state sync.",
  incremental: true
})

/** Blocks delivered by state sync (incremented by the sync loop). */
export const blocksSyncedTotal = Metric.counter("soma_p2p_blocks_synced_total", {
  description: "Blocks verified and stored by state sync.",
  incremental: true
})

/** Bytes of commits and blocks fetched from peers by state sync (incremented by the sync client). */
export const bytesFetchedTotal = Metric.counter("soma_p2p_bytes_fetched_total", {
  description: "Bytes of commits and blocks fetched from peers by state sync.",
  incremental: true
})

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

/** Data refused from peers, by reason (tag `reason`). */
export const invalidDataTotal = Metric.counter("soma_p2p_invalid_data_total", {
  description: "Data refused from peers because it failed verification, by reason.",
  incremental: true
})

/** Counts one refusal of a peer's data. */
export const recordInvalidData = (reason: InvalidDataReason): Effect.Effect<void> =>
  Metric.increment(Metric.tagged(invalidDataTotal, "reason", reason))

// ---- RPC -----------------------------------------------------------------------------------------

/** Latency buckets in seconds: 1 ms (loopback) to 30 s (a long FetchBlocks stream). */
export const RPC_LATENCY_BUCKETS: ReadonlyArray<number> = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Outbound call latency (a stream: until it ends), tagged by `method` and `outcome` (`ok` / `error`). */
export const rpcLatencySeconds = Metric.histogram(
  "soma_p2p_rpc_latency_seconds",
  MetricBoundaries.fromIterable(RPC_LATENCY_BUCKETS),
  "Latency of outbound RPCs in seconds (server streams: until the stream ends), by method and outcome."
)

/** How an outbound call ended. */
export type RpcOutcome = "ok" | "error"

/** The latency histogram of one method and outcome (one place fixes the tag order, which is part of the key). */
export const rpcLatencyOf = (method: string, outcome: RpcOutcome) =>
  rpcLatencySeconds.pipe(Metric.tagged("method", method), Metric.tagged("outcome", outcome))

/** Encoded response bytes received by outbound calls, tagged by `method`. */
export const rpcResponseBytesTotal = Metric.counter("soma_p2p_rpc_response_bytes_total", {
  description: "Encoded response bytes received by outbound RPCs, by method.",
  incremental: true
})

/** The untagged gauges and counters, registered at startup so that a scrape lists them (at 0) before they move. */
export const UNTAGGED_GAUGES = [connectedPeers, knownPeers, bannedPeers, claimedHeight, syncedHeight, executorHighestExecuted] as const
export const UNTAGGED_COUNTERS = [commitsSyncedTotal, blocksSyncedTotal, bytesFetchedTotal] as const

/** Registers every untagged metric, and each invalid-data reason, at its zero value (reading a metric registers it). */
export const registerMetrics: Effect.Effect<void> = Effect.all(
  [
    ...UNTAGGED_GAUGES.map((gauge) => Metric.value(gauge)),
    ...UNTAGGED_COUNTERS.map((counter) => Metric.value(counter)),
    ...INVALID_DATA_REASONS.map((reason) => Metric.value(Metric.tagged(invalidDataTotal, "reason", reason)))
  ],
  { discard: true }
)
