import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Metric, Ref, Schedule, Scope, Stream } from "effect"
import { ChainGenerator, type GeneratedCommit } from "../../../src/testkit/chain.js"
import { makePeerManager } from "../../../src/layers/peers/PeerManagerLayer.js"
import { bytesFetchedTotal, commitsSyncedTotal, setExecutorHighestExecuted } from "../../../src/layers/metrics/definitions.js"
import { makeMetrics, MetricsLayer } from "../../../src/layers/metrics/MetricsLayer.js"
import { makeMetricsServer } from "../../../src/layers/metrics/server.js"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { CommitExecutor, type CommitExecutorService } from "../../../src/services/CommitExecutor.js"
import { MetricsServer } from "../../../src/services/Metrics.js"
import { Network } from "../../../src/services/Network.js"
import { PeerManager } from "../../../src/services/PeerManager.js"
import { StateSync } from "../../../src/services/StateSync.js"
import { settleSimulated } from "../network/harness.js"
import { genesisOf, produce, simPeerId, SimVerifierLayer, startSyncNode } from "../sync/syncSim.js"
import { httpRequest, latencyOf, scrapeParsed, startTimedSyncNode } from "./fixtures.js"
import { sampleValue } from "./promText.js"

describe("the metrics HTTP endpoint", () => {
  it.scopedLive("serves GET /metrics as Prometheus text on a loopback port, 404 elsewhere, and the values move between scrapes", () =>
    Effect.gen(function* () {
      const server = yield* makeMetrics({ port: 0, refreshIntervalMs: 50 })
      expect(server.port).toBeGreaterThan(0)
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`)

      const answer = yield* httpRequest(server.url)
      expect(answer.status).toBe(200)
      expect(answer.contentType).toBe("text/plain; version=0.0.4; charset=utf-8")
      expect(answer.body).toContain("# TYPE soma_p2p_commits_synced_total counter\n")

      const before = yield* scrapeParsed(server.url)
      yield* Metric.incrementBy(commitsSyncedTotal, 5)
      yield* Metric.incrementBy(bytesFetchedTotal, 1_024)
      yield* setExecutorHighestExecuted(42)
      const after = yield* scrapeParsed(server.url)
      const moved = (name: string) => (sampleValue(after, name) ?? NaN) - (sampleValue(before, name) ?? NaN)
      expect(moved("soma_p2p_commits_synced_total")).toBe(5)
      expect(moved("soma_p2p_fetched_bytes_total")).toBe(1_024)
      expect(sampleValue(after, "soma_p2p_executor_highest_executed")).toBe(42)

      expect((yield* httpRequest(`http://127.0.0.1:${server.port}/`)).status).toBe(404)
      expect((yield* httpRequest(`http://127.0.0.1:${server.port}/metrics/x`)).status).toBe(404)
      expect((yield* httpRequest(server.url, "POST")).status).toBe(405)
      const head = yield* httpRequest(server.url, "HEAD")
      expect([head.status, head.body]).toEqual([200, ""])
    })
  )

  it.scopedLive("closes with its scope, and a taken port is a typed error", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(makeMetricsServer({ port: 0 }), scope)
      const clash = yield* Effect.flip(Scope.extend(makeMetricsServer({ port: server.port }), scope))
      expect(clash._tag).toBe("MetricsListenFailed")
      expect(clash.message).toContain(`127.0.0.1:${server.port}`)
      yield* Scope.close(scope, Exit.void)
      const refused = yield* Effect.exit(Effect.tryPromise(() => fetch(server.url)))
      expect(Exit.isFailure(refused)).toBe(true)
    })
  )

  it.scopedLive("reads known, connected and banned peers from the PeerManager when there is one", () =>
    Effect.gen(function* () {
      const seeds = [1, 2, 3].map((n) => ({ peerId: simPeerId(n), address: `sim://${n}` }))
      const peerManager = yield* makePeerManager({ localPeerId: simPeerId(0), seeds })
      yield* peerManager.reportOffence(simPeerId(2), "InvalidData", "test")
      // As the lead wires it: the layer built over a context that has the service (read with serviceOption).
      const context = yield* Layer.build(MetricsLayer({ port: 0, refreshIntervalMs: 50 }).pipe(Layer.provide(Layer.succeed(PeerManager, peerManager))))
      const { url } = Context.get(context, MetricsServer)
      const scraped = yield* scrapeParsed(url)
      expect(sampleValue(scraped, "soma_p2p_known_peers")).toBe(3)
      expect(sampleValue(scraped, "soma_p2p_connected_peers")).toBe(0)
      expect(sampleValue(scraped, "soma_p2p_banned_peers")).toBe(1)
    })
  )

  it.scopedLive("follows the CommitExecutor's watermark when there is one", () =>
    Effect.gen(function* () {
      const executed = yield* Ref.make(3)
      // The metrics read only `highestExecuted` and `subscribe`; the rest of the service is not needed here.
      const executor: Pick<CommitExecutorService, "highestExecuted" | "subscribe"> = { highestExecuted: Ref.get(executed), subscribe: Effect.succeed(Stream.never) }
      const context = yield* Layer.build(
        MetricsLayer({ port: 0, refreshIntervalMs: 20 }).pipe(Layer.provide(Layer.succeed(CommitExecutor, executor as CommitExecutorService)))
      )
      const { url } = Context.get(context, MetricsServer)
      expect(sampleValue(yield* scrapeParsed(url), "soma_p2p_executor_highest_executed")).toBe(3)
      yield* Ref.set(executed, 9)
      // Within a few refresh intervals the scrape shows the new watermark.
      const watermark = Effect.map(scrapeParsed(url), (families) => sampleValue(families, "soma_p2p_executor_highest_executed"))
      yield* watermark.pipe(
        Effect.repeat({ until: (value) => value === 9, schedule: Schedule.spaced("20 millis") }),
        Effect.timeout("5 seconds")
      )
      const seen = yield* watermark
      expect(seen).toBe(9)
    })
  )
})

const CHAIN: ReadonlyArray<GeneratedCommit> = new ChainGenerator({ seed: 23, validators: 4, commitsPerEpoch: 100, transactionsPerBlock: 1 }).take(120)

layer(Layer.merge(Layer.scoped(SimNetwork, makeSimNetwork({ seed: 3 })), SimVerifierLayer))("metrics of a syncing node", (it) => {
  it.scoped("heights, connected peers and RPC latencies move as a simulated node syncs from 4 validators", () =>
    Effect.gen(function* () {
      const start = genesisOf(CHAIN)
      const validators = yield* Effect.forEach([0, 1, 2, 3], (n) => startSyncNode(n, { start }))
      for (const v of validators) yield* produce(v, CHAIN, 1, 120)
      const fresh = yield* startTimedSyncNode(10, { start })
      // The metrics see the fresh node's services, as when the lead provides the node's layer.
      const server = yield* makeMetrics({ port: 0 }).pipe(Effect.provideService(StateSync, fresh.sync), Effect.provideService(Network, fresh.network))

      const before = yield* scrapeParsed(server.url)
      expect(sampleValue(before, "soma_p2p_synced_height")).toBe(0)
      expect(sampleValue(before, "soma_p2p_connected_peers")).toBe(0)

      yield* settleSimulated(
        Effect.gen(function* () {
          for (const v of validators) yield* Effect.orDie(fresh.network.dial(v.peerId, v.address))
          yield* Stream.runDrain(Stream.take(fresh.sync.commits(1), 120))
          // Past one refresh interval of simulated time, so the gauges have been read again.
          yield* Effect.sleep("2 seconds")
        })
      )

      const after = yield* scrapeParsed(server.url)
      // The connections were counted from the network's peer events.
      expect((sampleValue(after, "soma_p2p_peer_connections_total") ?? 0) - (sampleValue(before, "soma_p2p_peer_connections_total") ?? 0)).toBe(4)
      expect(sampleValue(after, "soma_p2p_synced_height")).toBe(120)
      expect(sampleValue(after, "soma_p2p_claimed_height")).toBe(120)
      expect(sampleValue(after, "soma_p2p_connected_peers")).toBe(4)
      expect(sampleValue(after, "soma_p2p_banned_peers")).toBe(0)
      for (const method of ["GetCommitAvailability", "FetchCommits", "FetchBlocks"]) {
        expect(sampleValue(after, "soma_p2p_rpc_latency_seconds_count", { method, outcome: "ok" }), method).toBeGreaterThan(0)
        expect(sampleValue(after, "soma_p2p_rpc_response_bytes_total", { method }), method).toBeGreaterThan(0)
      }
      expect((yield* latencyOf("FetchBlocks", "ok")).sum).toBeGreaterThan(0)
    })
  )
})
