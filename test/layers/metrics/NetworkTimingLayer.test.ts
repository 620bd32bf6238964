import { expect, layer } from "@effect/vitest"
import { Chunk, Effect, Layer, Metric, Stream } from "effect"
import { rpcFailuresTotal, rpcResponseBytesTotal } from "../../../src/layers/metrics/definitions.js"
import { NetworkTimingLayer } from "../../../src/layers/metrics/NetworkTimingLayer.js"
import { peerTraffic } from "../../../src/layers/metrics/PeerTraffic.js"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { makeSimNode, SimNetworkLayer } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import { Network, serverStreamMethod, unaryMethod, type PeerUnavailable, type RpcRejected } from "../../../src/services/Network.js"
import { settleSimulated } from "../network/harness.js"
import { jsonCodec, testPeerId } from "../network/fixtures.js"
import { latencyOf } from "./fixtures.js"

const SERVICE = "soma.test.v1.Metrics"
/** Waits `ms` on the server, then answers. */
const Wait = unaryMethod(SERVICE, "Wait", jsonCodec<{ readonly ms: number }>(), jsonCodec<{ readonly done: boolean }>())
/** Streams `count` messages, `delayMs` apart. */
const Ticks = serverStreamMethod(SERVICE, "Ticks", jsonCodec<{ readonly count: number; readonly delayMs: number }>(), jsonCodec<{ readonly n: number }>())
/** Served by nobody. */
const Missing = unaryMethod(SERVICE, "Missing", jsonCodec<{ readonly x: number }>(), jsonCodec<{ readonly y: number }>())

const World = Layer.scoped(SimNetwork, makeSimNetwork({ seed: 11 }))
/** The client: a sim node wrapped by the decorator, as the node program would wire it. */
const TimedClient = NetworkTimingLayer.pipe(Layer.provide(SimNetworkLayer({ peerId: testPeerId(0) })))

layer(TimedClient.pipe(Layer.provideMerge(World)))("NetworkTimingLayer over SimNetwork", (it) => {
  it.scoped("records a latency histogram per method and outcome, whole streams included, response bytes, failures by error, and per-peer traffic", () =>
    Effect.gen(function* () {
      const server = yield* makeSimNode({ peerId: testPeerId(1) })
      yield* server.handleUnary(Wait, ({ ms }) => Effect.as(Effect.sleep(ms), { done: true }))
      yield* server.handleServerStream(Ticks, ({ count, delayMs }) =>
        Stream.range(1, count).pipe(Stream.mapEffect((n) => Effect.as(Effect.sleep(delayMs), { n })))
      )
      const client = yield* Network

      yield* settleSimulated(
        Effect.gen(function* () {
          yield* Effect.orDie(client.dial(server.localPeerId, server.listenAddress))
          for (const ms of [200, 300]) yield* Effect.orDie(client.call(server.localPeerId, Wait, { ms }, { timeout: "5 seconds" }))
          // A whole stream: 5 messages 100 ms apart.
          const all = yield* Effect.orDie(Stream.runCollect(client.callStream(server.localPeerId, Ticks, { count: 5, delayMs: 100 }, { timeout: "5 seconds" })))
          expect(Chunk.size(all)).toBe(5)
          // A stream the consumer stops early still ends well: it counts as ok, until the consumer stopped.
          yield* Effect.orDie(Stream.runDrain(client.callStream(server.localPeerId, Ticks, { count: 50, delayMs: 100 }, { timeout: "10 seconds" }).pipe(Stream.take(2))))
          // Errors: a method nobody serves (the peer rejects it), and a peer we are not connected to.
          const rejected = yield* Effect.flip(client.call(server.localPeerId, Missing, { x: 1 }, { timeout: "5 seconds" }))
          const unavailable = yield* Effect.flip(client.call(testPeerId(9), Missing, { x: 1 }, { timeout: "5 seconds" }))
          expect([rejected._tag, unavailable._tag]).toEqual<Array<(RpcRejected | PeerUnavailable)["_tag"]>>(["RpcRejected", "PeerUnavailable"])
          // A call the caller gives up on says nothing about the peer: not recorded.
          yield* Effect.timeout(client.call(server.localPeerId, Wait, { ms: 10_000 }, { timeout: "20 seconds" }), "1 second").pipe(Effect.ignore)
        })
      )

      const wait = yield* latencyOf("Wait", "ok")
      expect(wait.count).toBe(2)
      // 200 + 300 ms of handler time plus a simulated round trip per call.
      expect(wait.sum).toBeGreaterThanOrEqual(0.5)
      expect(wait.sum).toBeLessThan(0.6)
      expect((yield* latencyOf("Wait", "error")).count).toBe(0)

      const ticks = yield* latencyOf("Ticks", "ok")
      expect(ticks.count).toBe(2)
      // 5 × 100 ms for the whole stream, then about 2 × 100 ms until the consumer stopped.
      expect(ticks.sum).toBeGreaterThanOrEqual(0.7)
      expect(ticks.sum).toBeLessThan(0.9)

      expect(yield* latencyOf("Missing", "error")).toMatchObject({ count: 2 })
      expect(yield* latencyOf("Missing", "ok")).toMatchObject({ count: 0 })

      const waitBytes = yield* Metric.value(Metric.tagged(rpcResponseBytesTotal, "method", "Wait"))
      expect(waitBytes.count).toBe(2 * JSON.stringify({ done: true }).length)

      const failures = (error: string) => Metric.value(Metric.tagged(Metric.tagged(rpcFailuresTotal, "method", "Missing"), "error", error))
      expect((yield* failures("RpcRejected")).count).toBe(1)
      expect((yield* failures("PeerUnavailable")).count).toBe(1)
      // Per peer: the server sent every response byte; each peer had one failed call.
      const received = new Map(peerTraffic.top(1_000, "receivedBytes"))
      expect(received.get(server.localPeerId)).toBeGreaterThanOrEqual(waitBytes.count)
      const failed = new Map(peerTraffic.top(1_000, "failures"))
      expect([failed.get(server.localPeerId), failed.get(testPeerId(9))]).toEqual([1, 1])
    })
  )
})
