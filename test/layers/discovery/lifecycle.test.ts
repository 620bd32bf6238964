/**
 * The loop's life: the same seed gives the same run; a failing round is logged and the next one runs;
 * closing a node's scope stops its loop, its dials and its handler.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { DISCOVERY_TICK_MS } from "../../../src/layers/discovery/constants.js"
import { makeSimDiscoveryWorld } from "../../../src/testkit/discovery/simWorld.js"
import type { SimTraceEvent } from "../../../src/layers/network/sim/SimNetwork.js"
import { Crypto } from "../../../src/services/Crypto.js"
import { onVirtualTime } from "./fixtures.js"

const run = (seed: number) =>
  onVirtualTime({ seed }, (time) =>
    Effect.gen(function* () {
      const sim = yield* makeSimDiscoveryWorld({ seed, nodes: 10 })
      for (let i = 0; i < 10; i++) yield* sim.start(i)
      yield* time.advance(4 * DISCOVERY_TICK_MS)
      const trace = yield* sim.world.trace
      const tables = yield* Effect.forEach(sim.running(), (n) =>
        Effect.map(n.manager.snapshot, (s) => s.known.map((v) => `${v.peerId}:${v.info?.info.timestampMs}:${v.connection._tag}`).join(","))
      )
      return { trace, tables }
    })
  )

const sentBy = (trace: ReadonlyArray<SimTraceEvent>, peerId: string, afterMs: number) =>
  trace.filter((e) => (e.kind === "sent" || e.kind === "lost") && e.from === peerId && e.atMs > afterMs).length

describe("discovery loop lifecycle", () => {
  it.live("is deterministic: the same seed gives the same trace and tables, another seed does not", () =>
    Effect.gen(function* () {
      const a = yield* run(21)
      const b = yield* run(21)
      const c = yield* run(22)
      expect(a.trace.length).toBeGreaterThan(100)
      expect(b.trace).toEqual(a.trace)
      expect(b.tables).toEqual(a.tables)
      expect(c.trace).not.toEqual(a.trace)
    })
  )

  it.live("stops when its scope closes: no more rounds, calls or dials from that node", () =>
    onVirtualTime({ seed: 23 }, (time) =>
      Effect.gen(function* () {
        const sim = yield* makeSimDiscoveryWorld({ seed: 23, nodes: 4 })
        for (let i = 0; i < 4; i++) yield* sim.start(i)
        yield* time.advance(3 * DISCOVERY_TICK_MS)
        const stopped = sim.node(2)!
        const roundsBefore = yield* stopped.discovery.rounds
        expect(roundsBefore).toBeGreaterThan(0)
        expect(sentBy(yield* sim.world.trace, stopped.peerId, 0)).toBeGreaterThan(0)
        yield* sim.stop(2)
        const stoppedAt = time.nowMs()
        yield* time.advance(10 * DISCOVERY_TICK_MS)
        expect(yield* stopped.discovery.rounds).toBe(roundsBefore)
        expect(sentBy(yield* sim.world.trace, stopped.peerId, stoppedAt)).toBe(0)
        // The others carry on.
        expect(yield* sim.node(1)!.discovery.rounds).toBeGreaterThan(roundsBefore + 5)
      })
    )
  )

  it.live("logs a failing round and runs the next one", () => {
    const logs: Array<string> = []
    const capture = Logger.make(({ message }) => {
      logs.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
    })
    let signs = 0
    // Signing fails for two calls after the nodes have started (each start signs once).
    const flakyCrypto = Layer.effect(
      Crypto,
      Effect.map(Crypto, (crypto) => ({
        ...crypto,
        sign: (keypair, message) =>
          Effect.suspend(() => {
            signs += 1
            return signs >= 4 && signs <= 5 ? Effect.die(new Error("signing device unavailable")) : crypto.sign(keypair, message)
          })
      }))
    )
    return onVirtualTime({ seed: 24 }, (time) =>
      Effect.gen(function* () {
        const sim = yield* makeSimDiscoveryWorld({ seed: 24, nodes: 2 })
        yield* sim.start(0)
        yield* sim.start(1)
        yield* time.advance(10 * DISCOVERY_TICK_MS)
        const rounds = (yield* sim.node(0)!.discovery.rounds) + (yield* sim.node(1)!.discovery.rounds)
        // 2 nodes × ~10 rounds, minus the two that failed.
        expect(rounds).toBeGreaterThanOrEqual(2 * 9 - 2)
        expect(logs.filter((l) => l.includes("discovery: round failed; continuing"))).toHaveLength(2)
        expect((yield* sim.node(1)!.network.connectedPeers).length).toBe(1)
      }).pipe(Effect.provide(flakyCrypto))
    ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
  })
})

