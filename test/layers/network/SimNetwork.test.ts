/**
 * Simulation-only behaviour: latency, slow peers, loss, partitions and healing, a peer that breaks
 * streams, and determinism (same seed → same trace). Everything runs on `TestClock`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Fiber, HashMap, Option, Stream, TestClock } from "effect"
import { arrivalTime, NORMAL_PEER, partitioned, partitionOf, type Conditions } from "../../../src/layers/network/sim/conditions.js"
import { makeSimNetwork, SimNetwork, type SimTraceEvent } from "../../../src/layers/network/sim/SimNetwork.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import type { NetworkService } from "../../../src/services/Network.js"
import { Count, Echo, testPeerId } from "./fixtures.js"
import { settleSimulated } from "./harness.js"

const serve = (node: NetworkService) =>
  Effect.gen(function* () {
    yield* node.handleUnary(Echo, (request, context) => Effect.succeed({ caller: context.peerId, text: request.text }))
    yield* node.handleServerStream(Count, (request) =>
      Stream.range(1, request.count).pipe(Stream.map((i) => ({ blocks: [new Uint8Array(Math.max(1, request.size)).fill(i % 256)] })))
    )
  })

/** A world with `count` serving nodes, all on the default link of `latencyMs`. */
const world = (count: number, seed: number | string = 1, latencyMs = 100) =>
  Effect.gen(function* () {
    const sim = yield* makeSimNetwork({ seed, defaultLink: { latencyMs, lossProbability: 0 } })
    const nodes: Array<NetworkService> = []
    for (let index = 0; index < count; index++) {
      const node = yield* makeSimNode({ peerId: testPeerId(index) }).pipe(Effect.provideService(SimNetwork, sim))
      yield* serve(node)
      nodes.push(node)
    }
    return { sim, nodes }
  })

const dial = (from: NetworkService, to: NetworkService) => settleSimulated(from.dial(to.localPeerId, to.listenAddress))

/** Milliseconds of simulated time `effect` takes. */
const elapsed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const start = yield* TestClock.currentTimeMillis
    const result = yield* settleSimulated(Effect.either(effect))
    return { result, ms: (yield* TestClock.currentTimeMillis) - start }
  })

describe("SimNetwork conditions (pure)", () => {
  const peers = [testPeerId(0), testPeerId(1), testPeerId(2)] as const
  const base: Conditions = { defaultLink: { latencyMs: 50, lossProbability: 0 }, links: HashMap.empty(), peers: HashMap.empty(), partition: undefined }

  it("arrival = send time + transfer on the sender's upload queue + latency × multipliers", () => {
    const slow: Conditions = { ...base, peers: HashMap.make([peers[0], { ...NORMAL_PEER, latencyMultiplier: 2, uploadBytesPerSecond: 1_000 }]) }
    expect(arrivalTime(base, peers[0], peers[1], 10_000, 1_000, 0)).toEqual({ arriveAtMs: 1_050, uploadBusyUntilMs: 1_000 })
    // 500 bytes at 1,000 B/s = 500 ms of transfer, then 100 ms of doubled latency.
    expect(arrivalTime(slow, peers[0], peers[1], 500, 1_000, 0)).toEqual({ arriveAtMs: 1_600, uploadBusyUntilMs: 1_500 })
    // A second message queues behind the first.
    expect(arrivalTime(slow, peers[0], peers[1], 500, 1_000, 1_500)).toEqual({ arriveAtMs: 2_100, uploadBusyUntilMs: 2_000 })
  })

  it("a partition separates groups from each other and from unlisted peers", () => {
    const cut: Conditions = { ...base, partition: partitionOf([[peers[0]]]) }
    expect(partitioned(cut, peers[0], peers[1])).toBe(true)
    expect(partitioned(cut, peers[1], peers[2])).toBe(false)
    expect(partitioned(base, peers[0], peers[1])).toBe(false)
  })
})

describe("SimNetworkLayer under TestClock", () => {
  it.scoped("a call takes one round trip of link latency; a slow peer multiplies it", () =>
    Effect.gen(function* () {
      const { sim, nodes: [a, b] } = yield* world(2)
      const { ms: dialMs } = yield* elapsed(a!.dial(b!.localPeerId, b!.listenAddress))
      expect(dialMs).toBe(200)
      const call = a!.call(b!.localPeerId, Echo, { text: "x" }, { timeout: Duration.seconds(10) })
      expect((yield* elapsed(call)).ms).toBe(200)
      yield* sim.setLink(a!.localPeerId, b!.localPeerId, { latencyMs: 30, lossProbability: 0 })
      expect((yield* elapsed(call)).ms).toBe(60)
      yield* sim.setPeerConditions(b!.localPeerId, { latencyMultiplier: 3 })
      expect((yield* elapsed(call)).ms).toBe(180)
    })
  )

  it.scoped("a slow peer's bandwidth paces its stream", () =>
    Effect.gen(function* () {
      const { sim, nodes: [a, b] } = yield* world(2, 1, 10)
      yield* dial(a!, b!)
      // 10 messages of ~100 kB from a peer that uploads 1 MB/s: about one second.
      yield* sim.setPeerConditions(b!.localPeerId, { uploadBytesPerSecond: 1_000_000 })
      const { result, ms } = yield* elapsed(
        Stream.runCollect(a!.callStream(b!.localPeerId, Count, { count: 10, size: 100_000, delayMs: 0 }, { timeout: Duration.seconds(30) }))
      )
      expect(Either.map(result, Chunk.size)).toEqual(Either.right(10))
      expect(ms).toBeGreaterThanOrEqual(1_000)
      expect(ms).toBeLessThan(1_100)
    })
  )

  it.scoped("a lossy link stalls calls until their deadline; the rest get through", () =>
    Effect.gen(function* () {
      const { sim, nodes: [a, b] } = yield* world(2, "loss", 5)
      yield* dial(a!, b!)
      yield* sim.setLink(a!.localPeerId, b!.localPeerId, { latencyMs: 5, lossProbability: 1 })
      const lost = yield* elapsed(a!.call(b!.localPeerId, Echo, { text: "x" }, { timeout: Duration.millis(500) }))
      expect(lost.ms).toBe(500)
      expect(Either.getLeft(lost.result).pipe(Option.map((e) => e._tag))).toEqual(Option.some("DeadlineExceeded"))

      yield* sim.setLink(a!.localPeerId, b!.localPeerId, { latencyMs: 5, lossProbability: 0.3 })
      const results = yield* settleSimulated(
        Effect.all(
          Array.from({ length: 100 }, () => Effect.either(a!.call(b!.localPeerId, Echo, { text: "x" }, { timeout: Duration.millis(500) }))),
          { concurrency: "unbounded" }
        )
      )
      const failed = results.filter(Either.isLeft)
      // Each call is lost if either of its two messages is: 1 − 0.7² ≈ 51%.
      expect(failed.length).toBeGreaterThan(30)
      expect(failed.length).toBeLessThan(70)
      for (const failure of failed) expect(failure.left._tag).toBe("DeadlineExceeded")
      const trace = yield* sim.trace
      expect(trace.some((e) => e.kind === "lost" && e.cause === "loss")).toBe(true)
    })
  )

  it.scoped("a partition stalls calls, breaks connections after keepalive, refuses dials; healing restores", () =>
    Effect.gen(function* () {
      const { sim, nodes: [a, b, c] } = yield* world(3, 2, 10)
      const events = yield* a!.peerEvents
      yield* dial(a!, b!)
      yield* dial(a!, c!)
      yield* sim.partition([[a!.localPeerId]])
      const stalled = yield* elapsed(a!.call(b!.localPeerId, Echo, { text: "x" }, { timeout: Duration.seconds(1) }))
      expect(Either.getLeft(stalled.result).pipe(Option.map((e) => e._tag))).toEqual(Option.some("DeadlineExceeded"))
      // b and c are on the same side: they still talk.
      yield* dial(b!, c!)
      expect(yield* settleSimulated(b!.call(c!.localPeerId, Echo, { text: "y" }, { timeout: Duration.seconds(1) }))).toEqual({ caller: b!.localPeerId, text: "y" })
      // Keepalive notices the cut: a's connections break.
      yield* TestClock.adjust(Duration.seconds(15))
      expect(yield* a!.connectedPeers).toEqual([])
      const seen = yield* settleSimulated(Stream.runCollect(Stream.take(events, 4)))
      expect(Chunk.toReadonlyArray(seen).map((e) => (e._tag === "PeerDisconnected" ? e.reason : e._tag))).toEqual([
        "PeerConnected",
        "PeerConnected",
        "ConnectionLost",
        "ConnectionLost"
      ])
      const refused = yield* elapsed(a!.dial(b!.localPeerId, b!.listenAddress))
      expect(refused.ms).toBe(5_000)
      expect(Either.getLeft(refused.result).pipe(Option.map((e) => e._tag))).toEqual(Option.some("PeerUnavailable"))
      yield* sim.heal
      yield* dial(a!, b!)
      expect(yield* settleSimulated(a!.call(b!.localPeerId, Echo, { text: "z" }, { timeout: Duration.seconds(1) }))).toEqual({ caller: a!.localPeerId, text: "z" })
    })
  )

  it.scoped("a peer that breaks streams: the consumer gets its messages, then PeerUnavailable", () =>
    Effect.gen(function* () {
      const { sim, nodes: [a, b] } = yield* world(2, 3, 10)
      yield* dial(a!, b!)
      yield* sim.setPeerConditions(b!.localPeerId, { disconnectAfterStreamMessages: 7 })
      const received: Array<number> = []
      const result = yield* settleSimulated(
        Effect.either(
          Stream.runForEach(a!.callStream(b!.localPeerId, Count, { count: 100, size: 10, delayMs: 0 }, { timeout: Duration.seconds(30) }), (m) =>
            Effect.sync(() => received.push(m.blocks[0]![0]!))
          )
        )
      )
      expect(received).toEqual([1, 2, 3, 4, 5, 6, 7])
      expect(Either.getLeft(result)).toEqual(Option.some(expect.objectContaining({ _tag: "PeerUnavailable", reason: "ConnectionLost" })))
      expect(yield* a!.connectedPeers).toEqual([])
    })
  )

  it.scoped("a world can break one connection on demand", () =>
    Effect.gen(function* () {
      const { sim, nodes: [a, b] } = yield* world(2, 4, 10)
      yield* dial(a!, b!)
      const stream = yield* Effect.fork(
        Stream.runDrain(a!.callStream(b!.localPeerId, Count, { count: 1_000_000, size: 10, delayMs: 0 }, { timeout: Duration.seconds(60) }))
      )
      yield* TestClock.adjust(Duration.millis(100))
      yield* sim.breakConnection(a!.localPeerId, b!.localPeerId)
      const exit = yield* settleSimulated(Effect.either(Fiber.join(stream)))
      expect(Either.getLeft(exit).pipe(Option.map((e) => e._tag))).toEqual(Option.some("PeerUnavailable"))
    })
  )

  /** The trace with times relative to `startMs`, so runs that start at different times compare. */
  const relative = (trace: ReadonlyArray<SimTraceEvent>, startMs: number) =>
    trace.map((event) => ({ ...event, atMs: event.atMs - startMs, ...("arriveAtMs" in event ? { arriveAtMs: event.arriveAtMs - startMs } : {}) }))

  /** A small lossy scenario: 4 nodes dial each other and make calls and streams; returns the trace. */
  const scenario = (seed: string) =>
    Effect.gen(function* () {
      const startMs = yield* TestClock.currentTimeMillis
      const { sim, nodes } = yield* world(4, seed, 20)
      yield* sim.setDefaultLink({ latencyMs: 20, lossProbability: 0.2 })
      yield* sim.setPeerConditions(nodes[3]!.localPeerId, { latencyMultiplier: 2, uploadBytesPerSecond: 200_000 })
      const work = Effect.forEach(
        nodes,
        (from) =>
          Effect.forEach(
            nodes.filter((to) => to !== from),
            (to) =>
              Effect.either(from.dial(to.localPeerId, to.listenAddress)).pipe(
                Effect.zipRight(Effect.either(from.call(to.localPeerId, Echo, { text: "t" }, { timeout: Duration.seconds(2) }))),
                Effect.zipRight(
                  Effect.either(
                    Stream.runDrain(from.callStream(to.localPeerId, Count, { count: 5, size: 20_000, delayMs: 0 }, { timeout: Duration.seconds(5) }))
                  )
                )
              ),
            { concurrency: "unbounded" }
          ),
        { concurrency: "unbounded" }
      )
      yield* settleSimulated(work)
      return relative(yield* sim.trace, startMs)
    })

  const runScenario = (seed: string) => Effect.scoped(scenario(seed))

  it.effect("the same seed gives the same trace; another seed another one", () =>
    Effect.gen(function* () {
      const first = yield* runScenario("determinism")
      const second = yield* runScenario("determinism")
      const other = yield* runScenario("another seed")
      expect(first.length).toBeGreaterThan(50)
      expect(first.some((e) => e.kind === "lost")).toBe(true)
      expect(second).toEqual(first)
      expect(other).not.toEqual(first)
    })
  )
})
