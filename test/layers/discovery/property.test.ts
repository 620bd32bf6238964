/**
 * Property: for any connected seed graph, any message loss below 50% and any seed, all honest nodes
 * converge (each knows every other honest node and is connected to min(target, n − 1) of them), and no
 * honest table ever holds a NodeInfo whose signature does not verify — with a Byzantine relayer in
 * the graph serving forged, stale and future NodeInfos.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Effect } from "effect"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { DISCOVERY_TICK_MS, TARGET_CONNECTIONS } from "../../../src/layers/discovery/constants.js"
import { makeSimDiscoveryWorld, type SimDiscoveryWorld } from "../../../src/testkit/discovery/simWorld.js"
import { startByzantineNode } from "./byzantine.js"
import { onVirtualTime } from "./fixtures.js"
import { unverifiableEntries } from "./simulate.js"

/**
 * Ticks allowed (30 simulated minutes). At 49% loss a dial needs both handshake messages through (26%
 * per attempt) and a peer that keeps failing is retried once a minute, so the slowest runs take
 * ~20 minutes; without loss runs take 1–4 ticks.
 */
const BOUND_TICKS = 360
const NUM_RUNS = 12

/** Message loss in [0, 0.49], uniformly (fast-check's doubles crowd at the ends). */
const lossBelowHalf = fc.integer({ min: 0, max: 49 }).map((percent) => percent / 100)

/** A random connected graph: a random spanning tree (either direction) plus extra edges. */
const seedGraph = fc.integer({ min: 3, max: 7 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    tree: fc.tuple(...Array.from({ length: n - 1 }, (_, k) => fc.tuple(fc.integer({ min: 0, max: k }), fc.boolean()))),
    extra: fc.array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: n - 1 })), { maxLength: n }),
    byzantineHost: fc.integer({ min: 0, max: n - 1 })
  })
)

/** seeds[i] = the nodes node i starts with. */
const seedsFrom = (graph: { readonly n: number; readonly tree: ReadonlyArray<readonly [number, boolean]>; readonly extra: ReadonlyArray<readonly [number, number]> }) => {
  const seeds = Array.from({ length: graph.n }, () => new Set<number>())
  graph.tree.forEach(([parent, up], k) => {
    const child = k + 1
    if (up) seeds[child]!.add(parent)
    else seeds[parent]!.add(child)
  })
  for (const [a, b] of graph.extra) if (a !== b) seeds[a]!.add(b)
  return seeds.map((s) => [...s].sort((a, b) => a - b))
}

/** Honest convergence: knowledge of every honest peer and min(target, n − 1) honest connections. */
const honestConverged = (sim: SimDiscoveryWorld, n: number) =>
  Effect.gen(function* () {
    const honest = new Set<PeerId>(sim.peerIds)
    for (const node of sim.running()) {
      const known = new Set((yield* node.manager.snapshot).known.filter((v) => v.info !== undefined).map((v) => v.peerId))
      if (sim.peerIds.some((p) => p !== node.peerId && !known.has(p))) return false
      const connected = (yield* node.network.connectedPeers).filter((p) => honest.has(p)).length
      if (connected !== Math.min(TARGET_CONNECTIONS, n - 1)) return false
    }
    return true
  })

describe("discovery property", () => {
  it("converges on any connected seed graph with loss < 50%, and never stores an unverifiable NodeInfo", async () => {
    const measured: Array<string> = []
    await fc.assert(
      fc.asyncProperty(seedGraph, lossBelowHalf, fc.integer({ min: 0, max: 1_000_000 }), (graph, loss, seed) =>
        Effect.runPromise(
          onVirtualTime({ seed, defaultLink: { latencyMs: 10, lossProbability: loss } }, (time) =>
            Effect.gen(function* () {
              const byzantine = yield* startByzantineNode
              const seeds = seedsFrom(graph)
              const sim = yield* makeSimDiscoveryWorld({
                seed,
                nodes: graph.n,
                seedsOf: (i) => seeds[i] ?? [],
                extraSeedsOf: (i) => (i === graph.byzantineHost ? [{ peerId: byzantine.peerId, address: byzantine.address }] : [])
              })
              for (let i = 0; i < graph.n; i++) yield* sim.start(i)
              const poison = new Set<string>(byzantine.poisonIds)
              for (let tick = 1; tick <= BOUND_TICKS; tick++) {
                yield* time.advance(DISCOVERY_TICK_MS)
                for (const node of sim.running()) {
                  expect(yield* unverifiableEntries(node)).toEqual([])
                  expect((yield* node.manager.snapshot).known.some((v) => poison.has(v.peerId))).toBe(false)
                }
                if (yield* honestConverged(sim, graph.n)) {
                  measured.push(`n=${graph.n} loss=${loss.toFixed(2)}: ${tick}`)
                  return true
                }
              }
              return false
            })
          )
        )
      ),
      // A fixed seed: the same runs every time (no flaky CI); change it to explore other graphs.
      { numRuns: NUM_RUNS, seed: 20250101 }
    )
    console.log(`property: ticks to converge — ${measured.join("; ")}`)
  }, 120_000)
})
