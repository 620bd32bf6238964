/**
 * The prom-client registry behind `/metrics`: one per process, like Effect's metric registry it reads.
 *
 * - The node's Effect metrics (`BRIDGED_METRICS`) are read from Effect's snapshot at each scrape by a
 *   `collect` callback, as prom-client counters and gauges of the same name, help and labels. Only
 *   those are exported: Effect's runtime metrics (`effect_fiber_*`) and unlisted metrics are not.
 * - The RPC latency histogram is a prom-client histogram, observed on the call path.
 * - Per-peer figures come from `PeerTraffic`, top `TOP_PEERS` only.
 * - prom-client's default collectors (`collectDefaultMetrics`, as Lodestar does) give the process and
 *   Node.js metrics every dashboard expects, once `startProcessMetrics` has run.
 *
 * Not prom-client's global `register`: a library that also uses it cannot collide with our names, and
 * tests see only the node's registry.
 */
import { Metric, MetricState, type MetricPair } from "effect"
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client"
import { BRIDGED_METRICS, PEER_RECEIVED_BYTES, PEER_RPC_FAILURES, RPC_LATENCY, RPC_LATENCY_BUCKETS, TOP_PEERS, type BridgedMetric, type RpcOutcome } from "./definitions.js"
import { peerLabel, peerTraffic, type PeerFigures } from "./PeerTraffic.js"

/** The node's registry. */
export const nodeRegistry = new Registry()

/**
 * prom-client's default collectors also export gauges that end in `_total`, which Prometheus reserves
 * for counters (`promtool check metrics` flags them). Each is the sum of a `_total`-less gauge that is
 * exported too, so they are removed.
 */
const MISNAMED_DEFAULT_METRICS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]

let processMetricsStarted = false

/**
 * Starts the process and Node.js collectors on the node's registry (CPU, resident memory, fds, heap,
 * event-loop lag, GC). Idempotent: the GC observer and the event-loop monitor live for the process.
 */
export const startProcessMetrics = (): void => {
  if (processMetricsStarted) return
  processMetricsStarted = true
  collectDefaultMetrics({ register: nodeRegistry })
  for (const name of MISNAMED_DEFAULT_METRICS) if (nodeRegistry.getSingleMetric(name) !== undefined) nodeRegistry.removeSingleMetric(name)
}

// ---- Effect metrics, read at scrape --------------------------------------------------------------

type Labels = Record<string, string>

let snapshotOfThisScrape: ReadonlyArray<MetricPair.MetricPair.Untyped> | undefined

/**
 * Effect's snapshot, taken once per scrape: prom-client calls every `collect` in one synchronous pass
 * (`Registry.metrics` maps over the metrics before its first await), so a snapshot kept until the
 * next microtask is shared by all of them and never outlives the scrape.
 */
const effectSnapshot = (): ReadonlyArray<MetricPair.MetricPair.Untyped> => {
  if (snapshotOfThisScrape === undefined) {
    snapshotOfThisScrape = Metric.unsafeSnapshot()
    queueMicrotask(() => (snapshotOfThisScrape = undefined))
  }
  return snapshotOfThisScrape
}

/** The series of one Effect metric in a snapshot, labelled with the declared label names only. */
const seriesOf = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, bridged: BridgedMetric): Array<[Labels, MetricState.MetricState.Untyped]> =>
  pairs
    .filter((pair) => pair.metricKey.name === bridged.spec.name)
    .map((pair) => {
      const labels: Labels = {}
      for (const tag of pair.metricKey.tags) if (bridged.spec.labelNames.includes(tag.key)) labels[tag.key] = tag.value
      return [labels, pair.metricState]
    })

const bridge = (bridged: BridgedMetric): void => {
  const common = { name: bridged.spec.name, help: bridged.spec.help, labelNames: [...bridged.spec.labelNames], registers: [nodeRegistry] }
  if (bridged.type === "counter") {
    new Counter({
      ...common,
      collect() {
        this.reset()
        // Series that differ only in tags outside the label names (e.g. a fiber's `Effect.tagMetrics`) add up.
        for (const [labels, state] of seriesOf(effectSnapshot(), bridged)) {
          if (MetricState.isCounterState(state)) this.inc(labels, Number(state.count))
        }
      }
    })
  } else {
    new Gauge({
      ...common,
      collect() {
        this.reset()
        for (const [labels, state] of seriesOf(effectSnapshot(), bridged)) {
          if (MetricState.isGaugeState(state)) this.set(labels, Number(state.value))
        }
      }
    })
  }
}

for (const bridged of BRIDGED_METRICS) bridge(bridged)

// ---- native prom-client metrics ------------------------------------------------------------------

/** Outbound RPC latency, by `method` and `outcome`. */
export const rpcLatencySeconds = new Histogram({
  name: RPC_LATENCY.name,
  help: RPC_LATENCY.help,
  labelNames: [...RPC_LATENCY.labelNames],
  buckets: [...RPC_LATENCY_BUCKETS],
  registers: [nodeRegistry]
})

/** Records one finished outbound call (synchronous: for the call path's finalizers). */
export const observeRpcLatencyNow = (method: string, outcome: RpcOutcome, seconds: number): void =>
  rpcLatencySeconds.observe({ method, outcome }, seconds)

const topPeers = (name: string, help: string, figure: keyof PeerFigures): void => {
  new Counter({
    name,
    help,
    labelNames: ["peer"],
    registers: [nodeRegistry],
    collect() {
      this.reset()
      for (const [peerId, value] of peerTraffic.top(TOP_PEERS, figure)) this.inc({ peer: peerLabel(peerId) }, value)
    }
  })
}

topPeers(PEER_RECEIVED_BYTES.name, PEER_RECEIVED_BYTES.help, "receivedBytes")
topPeers(PEER_RPC_FAILURES.name, PEER_RPC_FAILURES.help, "failures")
