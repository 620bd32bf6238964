/**
 * The metrics of a real node, as an operator scrapes them: a devnet validator producing commits and a
 * fresh full node syncing from it over gRPC on loopback, both run by `runNode` (the layers as
 * `P2pBuilder` wires them, LMDB stores), the full node with a metrics port. Its `/metrics` must follow
 * Prometheus's conventions (and pass `promtool check metrics` where promtool is installed), carry the
 * process and Node.js metrics, and hold every metric the Grafana dashboard queries.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Logger, LogLevel } from "effect"
import { devnetGenesis } from "../../../src/programs/devnet/layout.js"
import type { ProducerConfig } from "../../../src/programs/devnet/producer.js"
import type { NodeConfig } from "../../../src/programs/node/NodeConfig.js"
import { runNode, type NodeStatus } from "../../../src/programs/node/runNode.js"
import { conventionProblems, promtoolCheck, promtoolPath, selectableNames } from "./conventions.js"
import { loadDashboard, unknownMetrics } from "./dashboard.js"
import { httpRequest } from "./fixtures.js"
import { parsePrometheusText, sampleValue } from "./promText.js"
import { freeBasePort } from "../../../src/testkit/ports.js"

const COMMITS = 40

const withoutMetricsPort = ({ metricsPort: _omit, ...config }: NodeConfig): NodeConfig => config

describe("the /metrics of a live node", () => {
  it("follows Prometheus conventions, has the process and Node.js metrics, and everything the dashboard queries", { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "soma-metrics-"))
    const basePort = await freeBasePort(6)
    const { chain, nodes } = devnetGenesis({ validators: 4, fullnodes: 1, basePort, dir, plaintext: true, seed: 11, commitsPerEpoch: 25, transactionsPerBlock: 2 })
    for (const node of nodes) mkdirSync(join(dir, node.name), { recursive: true })
    // Only validator 0 runs (it produces the whole chain); the full node's metrics port is the one after the nodes.
    const validator = withoutMetricsPort(nodes[0]!.config)
    const fullNode: NodeConfig = { ...nodes[4]!.config, metricsPort: basePort + 5 }
    const { validatorAddress: _address, ...chainJson } = chain
    const producer: ProducerConfig = { chain: chainJson, basePort, rate: 20, commits: COMMITS }

    let latest: NodeStatus | undefined
    const quiet = <A, E>(effect: Effect.Effect<A, E>) => effect.pipe(Logger.withMinimumLogLevel(LogLevel.Error))
    const validatorFiber = Effect.runFork(quiet(runNode(validator, { producer })))
    const fullNodeFiber = Effect.runFork(quiet(runNode(fullNode, { statusIntervalMs: 200, onStatus: (s) => Effect.sync(() => (latest = s)) })))
    try {
      const deadline = Date.now() + 180_000
      while (!(latest !== undefined && latest.highestSyncedCommit >= COMMITS && latest.highestExecuted >= COMMITS) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
      expect(latest?.highestExecuted, "the full node synced and executed the chain").toBeGreaterThanOrEqual(COMMITS)
      // Past one refresh of the gauges (1 s) after the last commit.
      await new Promise((resolve) => setTimeout(resolve, 1_500))

      const answer = await Effect.runPromise(httpRequest(`http://127.0.0.1:${basePort + 5}/metrics`))
      expect(answer.status).toBe(200)
      expect(answer.contentType).toBe("text/plain; version=0.0.4; charset=utf-8")
      const text = answer.body

      expect(conventionProblems(text)).toEqual([])
      if (promtoolPath !== undefined) expect(promtoolCheck(promtoolPath, text)).toEqual({ status: 0, output: "" })
      expect(text).not.toContain("effect_fiber")

      const families = parsePrometheusText(text)
      const names = new Set(families.map((f) => f.name))
      for (const name of [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "nodejs_heap_size_used_bytes",
        "nodejs_eventloop_lag_seconds",
        "nodejs_gc_duration_seconds"
      ]) {
        expect(names.has(name), name).toBe(true)
      }
      expect(sampleValue(families, "process_resident_memory_bytes")).toBeGreaterThan(0)

      // The node's own figures moved as it synced and executed.
      expect(sampleValue(families, "soma_p2p_synced_height")).toBeGreaterThanOrEqual(COMMITS)
      expect(sampleValue(families, "soma_p2p_certified_height")).toBeGreaterThan(0)
      expect(sampleValue(families, "soma_p2p_executor_highest_executed")).toBeGreaterThanOrEqual(COMMITS)
      expect(sampleValue(families, "soma_p2p_executed_transactions_total", { outcome: "succeeded" })).toBeGreaterThan(0)
      expect(sampleValue(families, "soma_p2p_connected_peers")).toBeGreaterThanOrEqual(1)
      expect(sampleValue(families, "soma_p2p_rpc_latency_seconds_count", { method: "FetchCommits", outcome: "ok" })).toBeGreaterThan(0)
      const perPeer = families.find((f) => f.name === "soma_p2p_peer_received_bytes_total")?.samples ?? []
      expect(perPeer.length).toBeGreaterThan(0)
      expect(perPeer.length).toBeLessThanOrEqual(10)

      expect(unknownMetrics(loadDashboard(), selectableNames(text))).toEqual([])
    } finally {
      await Effect.runPromise(Fiber.interruptAll([fullNodeFiber, validatorFiber]))
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
