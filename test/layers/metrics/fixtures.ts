/**
 * Fixtures of the metrics tests: scraping over real HTTP, reading a latency histogram, and a simulated
 * syncing node whose network is timed by the decorator.
 */
import { Effect } from "effect"
import { RPC_LATENCY, type RpcOutcome } from "../../../src/layers/metrics/definitions.js"
import { rpcLatencySeconds } from "../../../src/layers/metrics/registry.js"
import { timedNetwork } from "../../../src/layers/metrics/NetworkTimingLayer.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import { makeMemoryStore } from "../../../src/layers/store/MemoryStoreLayer.js"
import { makeStateSync, type SyncConfig } from "../../../src/layers/sync/SyncLayer.js"
import { makePeerManager } from "../../../src/layers/peers/PeerManagerLayer.js"
import { PeerManager } from "../../../src/services/PeerManager.js"
import { Network } from "../../../src/services/Network.js"
import { Store } from "../../../src/services/Store.js"
import { Verifier } from "../../../src/services/Verifier.js"
import { simPeerId } from "../sync/syncSim.js"
import { parsePrometheusText, type PromFamily } from "./promText.js"

export interface HttpAnswer {
  readonly status: number
  readonly contentType: string | null
  readonly body: string
}

/** One HTTP request (real I/O, so it works under `TestClock` too). */
export const httpRequest = (url: string, method = "GET"): Effect.Effect<HttpAnswer> =>
  Effect.promise(async () => {
    const response = await fetch(url, { method, headers: { connection: "close" } })
    return { status: response.status, contentType: response.headers.get("content-type"), body: await response.text() }
  })

/** Scrapes `url`, checks the answer is valid Prometheus text, and parses it. */
export const scrapeParsed = (url: string): Effect.Effect<ReadonlyArray<PromFamily>> =>
  Effect.map(httpRequest(url), (answer) => {
    if (answer.status !== 200) throw new Error(`scrape answered ${answer.status}`)
    return parsePrometheusText(answer.body)
  })

/** Count and sum of the latency histogram of one method and outcome (0 for a series not observed yet). */
export const latencyOf = (method: string, outcome: RpcOutcome) =>
  Effect.map(
    Effect.promise(() => rpcLatencySeconds.get()),
    ({ values }) => {
      const of = (suffix: string) =>
        values.find((v) => v.metricName === `${RPC_LATENCY.name}_${suffix}` && v.labels["method"] === method && v.labels["outcome"] === outcome)?.value ?? 0
      return { count: of("count"), sum: of("sum") }
    }
  )

/** A simulated syncing node (in-memory store, real SyncLayer) whose outbound calls are timed. */
export const startTimedSyncNode = (n: number, config: SyncConfig) =>
  Effect.gen(function* () {
    const peerId = simPeerId(n)
    const network = timedNetwork(yield* makeSimNode({ peerId }))
    const store = yield* makeMemoryStore
    const sync = yield* makeStateSync(config).pipe(
      Effect.provideService(PeerManager, yield* makePeerManager({ localPeerId: peerId })),
      Effect.provideService(Network, network),
      Effect.provideService(Store, store),
      Effect.provideService(Verifier, yield* Verifier)
    )
    return { peerId, network, store, sync }
  })
