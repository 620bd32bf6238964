import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, MetricBoundaries } from "effect"
import { INVALID_DATA_REASONS, recordInvalidData, registerMetrics, rpcLatencyOf } from "../../../src/layers/metrics/definitions.js"
import { escapeLabelValue, formatValue, renderPrometheus } from "../../../src/layers/metrics/prometheus.js"
import { parsePrometheusText, sampleValue } from "./promText.js"

/** The exposition text of the metrics whose name starts with `prefix` (the registry is global to the process). */
const renderOnly = (prefix: string) =>
  Effect.map(Metric.snapshot, (pairs) => renderPrometheus(pairs.filter((pair) => pair.metricKey.name.startsWith(prefix))))

describe("Prometheus text rendering", () => {
  it.effect("renders counters, gauges and histograms with tags, HELP and TYPE, exactly", () =>
    Effect.gen(function* () {
      const requests = Metric.counter("test_render_requests_total", { description: "Requests served.\nBy route \\ method.", incremental: true })
      const temperature = Metric.gauge("test_render_temperature_celsius", { description: "Room temperature." })
      const latency = Metric.histogram("test_render_latency_seconds", MetricBoundaries.fromIterable([0.1, 1]), "Request latency.")
      yield* Metric.incrementBy(Metric.tagged(requests, "route", "/a"), 3)
      yield* Metric.increment(Metric.tagged(requests, "route", 'we"ird\\path\nx'))
      yield* Metric.set(temperature, -2.5)
      for (const seconds of [0.0625, 0.5, 2]) yield* Metric.update(Metric.tagged(latency, "method", "Get"), seconds)

      const text = yield* renderOnly("test_render_")
      expect(text.split("\n")).toEqual([
        "# HELP test_render_latency_seconds Request latency.",
        "# TYPE test_render_latency_seconds histogram",
        'test_render_latency_seconds_bucket{method="Get",le="0.1"} 1',
        'test_render_latency_seconds_bucket{method="Get",le="1"} 2',
        'test_render_latency_seconds_bucket{method="Get",le="+Inf"} 3',
        'test_render_latency_seconds_sum{method="Get"} 2.5625',
        'test_render_latency_seconds_count{method="Get"} 3',
        "# HELP test_render_requests_total Requests served.\\nBy route \\\\ method.",
        "# TYPE test_render_requests_total counter",
        'test_render_requests_total{route="/a"} 3',
        'test_render_requests_total{route="we\\"ird\\\\path\\nx"} 1',
        "# HELP test_render_temperature_celsius Room temperature.",
        "# TYPE test_render_temperature_celsius gauge",
        "test_render_temperature_celsius -2.5",
        ""
      ])
      // And a strict parser reads it back, label values unescaped.
      const families = parsePrometheusText(text)
      expect(families.map((f) => [f.name, f.type])).toEqual([
        ["test_render_latency_seconds", "histogram"],
        ["test_render_requests_total", "counter"],
        ["test_render_temperature_celsius", "gauge"]
      ])
      expect(sampleValue(families, "test_render_requests_total", { route: 'we"ird\\path\nx' })).toBe(1)
      expect(families[1]?.help).toBe("Requests served.\nBy route \\ method.")
    })
  )

  it.effect("renders summaries and frequencies, sanitises names and keeps one type per family", () =>
    Effect.gen(function* () {
      const summary = Metric.summary({ name: "test_mixed_summary", maxAge: "1 minute", maxSize: 10, error: 0.01, quantiles: [0.5, 0.99] })
      for (const v of [1, 2, 3]) yield* Metric.update(summary, v)
      yield* Metric.update(Metric.frequency("test_mixed_words"), "alpha")
      yield* Metric.increment(Metric.counter("test_mixed.dotted-name"))
      // Same name, another type: rendering both would make the scrape invalid, so the second is left out.
      yield* Metric.increment(Metric.counter("test_mixed_clash"))
      yield* Metric.set(Metric.gauge("test_mixed_clash"), 5)

      const families = parsePrometheusText(yield* renderOnly("test_mixed"))
      expect(families.map((f) => [f.name, f.type])).toEqual([
        ["test_mixed_clash", "counter"],
        ["test_mixed_dotted_name", "counter"],
        ["test_mixed_summary", "summary"],
        ["test_mixed_words", "counter"]
      ])
      expect(sampleValue(families, "test_mixed_summary_count")).toBe(3)
      expect(sampleValue(families, "test_mixed_summary_sum")).toBe(6)
      expect(sampleValue(families, "test_mixed_words", { key: "alpha" })).toBe(1)
    })
  )

  it.effect("the node's whole registry is valid Prometheus text, with every metric listed from the start", () =>
    Effect.gen(function* () {
      yield* registerMetrics
      yield* recordInvalidData("invalid_blocks")
      yield* Metric.update(rpcLatencyOf("FetchBlocks", "ok"), 0.2)
      yield* Metric.update(rpcLatencyOf("FetchBlocks", "error"), 7)
      const families = parsePrometheusText(renderPrometheus(yield* Metric.snapshot))
      const node = families.filter((f) => f.name.startsWith("soma_p2p_"))
      expect(Object.fromEntries(node.map((f) => [f.name, f.type]))).toEqual({
        soma_p2p_banned_peers: "gauge",
        soma_p2p_blocks_synced_total: "counter",
        soma_p2p_bytes_fetched_total: "counter",
        soma_p2p_claimed_height: "gauge",
        soma_p2p_commits_synced_total: "counter",
        soma_p2p_connected_peers: "gauge",
        soma_p2p_executor_highest_executed: "gauge",
        soma_p2p_invalid_data_total: "counter",
        soma_p2p_known_peers: "gauge",
        soma_p2p_rpc_latency_seconds: "histogram",
        soma_p2p_synced_height: "gauge"
      })
      expect(node.every((f) => f.help !== undefined && f.help.length > 0)).toBe(true)
      for (const reason of INVALID_DATA_REASONS) {
        expect(sampleValue(families, "soma_p2p_invalid_data_total", { reason })).toBe(reason === "invalid_blocks" ? 1 : 0)
      }
      expect(sampleValue(families, "soma_p2p_rpc_latency_seconds_bucket", { method: "FetchBlocks", outcome: "ok", le: "0.25" })).toBe(1)
      expect(sampleValue(families, "soma_p2p_rpc_latency_seconds_bucket", { method: "FetchBlocks", outcome: "error", le: "5" })).toBe(0)
      expect(sampleValue(families, "soma_p2p_rpc_latency_seconds_count", { method: "FetchBlocks", outcome: "error" })).toBe(1)
    })
  )

  it("formats values and escapes label values as Prometheus parses them", () => {
    expect([Infinity, -Infinity, NaN, 0, 1.5, 1e-7, 12n].map(formatValue)).toEqual(["+Inf", "-Inf", "NaN", "0", "1.5", "1e-7", "12"])
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd')
    expect(renderPrometheus([])).toBe("")
  })
})
