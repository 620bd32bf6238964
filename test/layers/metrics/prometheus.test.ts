import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import {
  BRIDGED_METRICS,
  INVALID_DATA_REASONS,
  bytesFetchedTotal,
  invalidDataTotal,
  recordInvalidData,
  registerMetrics,
  setExecutorHighestExecuted
} from "../../../src/layers/metrics/definitions.js"
import { PROMETHEUS_CONTENT_TYPE, scrape } from "../../../src/layers/metrics/prometheus.js"
import { observeRpcLatencyNow } from "../../../src/layers/metrics/registry.js"
import { conventionProblems, promtoolCheck, promtoolPath } from "./conventions.js"
import { parsePrometheusText, sampleValue } from "./promText.js"

/** The node's metric families as `name: type`. */
const nodeFamilies = (text: string) =>
  Object.fromEntries(
    parsePrometheusText(text)
      .filter((f) => f.name.startsWith("soma_p2p_"))
      .map((f) => [f.name, f.type])
  )

describe("the node's Prometheus registry", () => {
  it.effect("lists every node metric from the start with its type, HELP and zero series, in valid text", () =>
    Effect.gen(function* () {
      yield* registerMetrics
      yield* recordInvalidData("invalid_blocks")
      observeRpcLatencyNow("FetchBlocks", "ok", 0.2)
      observeRpcLatencyNow("FetchBlocks", "error", 7)
      const text = yield* scrape
      expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8")
      expect(nodeFamilies(text)).toEqual({
        soma_p2p_banned_peers: "gauge",
        soma_p2p_blocks_synced_total: "counter",
        soma_p2p_certified_height: "gauge",
        soma_p2p_claimed_height: "gauge",
        soma_p2p_commits_synced_total: "counter",
        soma_p2p_connected_peers: "gauge",
        soma_p2p_executed_commits_total: "counter",
        soma_p2p_executed_transactions_total: "counter",
        soma_p2p_executor_highest_executed: "gauge",
        soma_p2p_fetched_bytes_total: "counter",
        soma_p2p_invalid_data_total: "counter",
        soma_p2p_known_peers: "gauge",
        soma_p2p_peer_connections_total: "counter",
        soma_p2p_peer_disconnects_total: "counter",
        soma_p2p_peer_received_bytes_total: "counter",
        soma_p2p_peer_rpc_failures_total: "counter",
        soma_p2p_rpc_failures_total: "counter",
        soma_p2p_rpc_latency_seconds: "histogram",
        soma_p2p_rpc_response_bytes_total: "counter",
        soma_p2p_synced_height: "gauge"
      })
      const families = parsePrometheusText(text)
      expect(families.filter((f) => f.name.startsWith("soma_p2p_")).every((f) => f.help !== undefined && f.help.length > 0)).toBe(true)
      for (const reason of INVALID_DATA_REASONS) {
        expect(sampleValue(families, "soma_p2p_invalid_data_total", { reason }), reason).toBeGreaterThanOrEqual(reason === "invalid_blocks" ? 1 : 0)
      }
      for (const name of ["soma_p2p_executed_commits_total", "soma_p2p_peer_connections_total", "soma_p2p_fetched_bytes_total"]) {
        expect(sampleValue(families, name), name).toBeGreaterThanOrEqual(0)
      }
      expect(sampleValue(families, "soma_p2p_rpc_latency_seconds_bucket", { method: "FetchBlocks", outcome: "error", le: "5" })).toBe(0)
      expect(sampleValue(families, "soma_p2p_rpc_latency_seconds_bucket", { method: "FetchBlocks", outcome: "error", le: "10" })).toBeGreaterThanOrEqual(1)
      expect(conventionProblems(text)).toEqual([])
    })
  )

  it.effect("exports Effect metrics with their current values and leaves Effect's runtime metrics out", () =>
    Effect.gen(function* () {
      const before = parsePrometheusText(yield* scrape)
      yield* Metric.incrementBy(bytesFetchedTotal, 4_096)
      yield* setExecutorHighestExecuted(77)
      // A fiber-level tag outside the declared label names is dropped, its series adding up with the others.
      yield* Metric.increment(Metric.tagged(invalidDataTotal, "reason", "unlinked_range")).pipe(Effect.tagMetrics("fiber", "x"))
      yield* Metric.increment(Metric.tagged(invalidDataTotal, "reason", "unlinked_range"))
      // What Effect's runtime metrics look like: a counter without _total and a unit in a label.
      yield* Metric.increment(Metric.counter("effect_fiber_started"))
      yield* Metric.update(Metric.tagged(Metric.frequency("effect_fiber_lifetimes"), "time_unit", "milliseconds"), "x")

      const text = yield* scrape
      const after = parsePrometheusText(text)
      const moved = (name: string, labels: Record<string, string> = {}) => (sampleValue(after, name, labels) ?? NaN) - (sampleValue(before, name, labels) ?? 0)
      expect(moved("soma_p2p_fetched_bytes_total")).toBe(4_096)
      expect(moved("soma_p2p_invalid_data_total", { reason: "unlinked_range" })).toBe(2)
      expect(sampleValue(after, "soma_p2p_executor_highest_executed")).toBe(77)
      expect(text).not.toContain("effect_fiber")
      expect(text).not.toContain("soma_p2p_bytes_fetched_total")
    })
  )

  it.effect("exports every soma_p2p_ metric in Effect's registry (a new metric needs an entry in BRIDGED_METRICS)", () =>
    Effect.gen(function* () {
      yield* registerMetrics
      const text = yield* scrape
      const exported = new Set(parsePrometheusText(text).map((f) => f.name))
      const defined = new Set(Metric.unsafeSnapshot().map((pair) => pair.metricKey.name).filter((name) => name.startsWith("soma_p2p_")))
      expect([...defined].filter((name) => !exported.has(name))).toEqual([])
      expect(BRIDGED_METRICS.map((m) => m.spec.name).every((name) => exported.has(name))).toBe(true)
    })
  )

  it.effect("includes the process and Node.js metrics, named as Prometheus expects", () =>
    Effect.gen(function* () {
      const text = yield* scrape
      const names = new Set(parsePrometheusText(text).map((f) => f.name))
      for (const name of [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "nodejs_heap_size_used_bytes",
        "nodejs_eventloop_lag_seconds",
        "nodejs_eventloop_lag_p99_seconds",
        "nodejs_gc_duration_seconds"
      ]) {
        expect(names.has(name), name).toBe(true)
      }
      // prom-client's gauges named like counters are removed.
      expect(names.has("nodejs_active_handles_total")).toBe(false)
      expect(names.has("nodejs_active_handles")).toBe(true)
    })
  )

  it.effect("the conventions check finds what promtool finds in a bad exposition", () =>
    Effect.sync(() => {
      const bad = [
        "# TYPE effect_fiber_started counter",
        "effect_fiber_started 3",
        "# HELP effect_fiber_active Fibers alive.",
        "# TYPE effect_fiber_active gauge",
        "effect_fiber_active 2",
        "# HELP effect_fiber_lifetimes Lifetimes.",
        "# TYPE effect_fiber_lifetimes counter",
        'effect_fiber_lifetimes{time_unit="milliseconds"} 1',
        "# HELP x_latency_ms Latency.",
        "# TYPE x_latency_ms gauge",
        "x_latency_ms 1",
        "# HELP x_handles_total Handles.",
        "# TYPE x_handles_total gauge",
        "x_handles_total 1",
        ""
      ].join("\n")
      expect(conventionProblems(bad)).toEqual([
        "effect_fiber_started: no HELP",
        "effect_fiber_started: a counter must end in _total",
        "effect_fiber_lifetimes: a counter must end in _total",
        'effect_fiber_lifetimes: unit in a label (time_unit="milliseconds")',
        "x_latency_ms: unit not a base unit (seconds, bytes) or abbreviated",
        "x_handles_total: only counters end in _total"
      ])
      if (promtoolPath !== undefined) expect(promtoolCheck(promtoolPath, bad).status).not.toBe(0)
    })
  )
})
