/**
 * The headline simulation, under `TestClock`: 50 nodes that only know one seed converge — every node
 * knows every other node and holds `targetConnections` connections — within a bounded number of
 * ticks, from one seed, with real signatures; and they stay converged.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { DISCOVERY_TICK_MS, TARGET_CONNECTIONS } from "../../../src/layers/discovery/constants.js"
import { convergence, makeSimDiscoveryWorld } from "../../../src/testkit/discovery/simWorld.js"
import { SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { InlineCryptoLayer } from "./fixtures.js"
import { stepsUntil, unverifiableEntries } from "./simulate.js"

const NODES = 50
const SEED = 50
const ALL = Array.from({ length: NODES }, (_, i) => i)
/**
 * Convergence must happen within this many ticks (measured: 1 before the introduction budget; 3 with
 * it — a peer may introduce at most 20 new peers per answer, so learning 49 takes a few answers; 4 with
 * probation — an introduced peer enters the table only once a second introducer reports it or a dial
 * reaches it; 5 since only a credible second introducer promotes it: one whose introductions feelers
 * reached; 3 once feelers judged a new introducer in one round and rounds asked credible peers first).
 */
const BOUND_TICKS = 4
/** Convergence is checked every simulated second, to measure it finer than a tick. */
const STEP_MS = 1_000

describe("50-node simulation (TestClock)", () => {
  it.scoped(
    "every node knows every other and holds the target connections within the bound",
    () =>
      Effect.gen(function* () {
        const sim = yield* makeSimDiscoveryWorld({ seed: SEED, nodes: NODES })
        for (const i of ALL) yield* sim.start(i)
        const converged = Effect.map(convergence(sim, ALL, TARGET_CONNECTIONS), (c) => c.converged)
        const steps = yield* stepsUntil((ms) => TestClock.adjust(ms), STEP_MS, (BOUND_TICKS * DISCOVERY_TICK_MS) / STEP_MS, converged)
        expect(steps).toBeDefined()
        const ticks = Math.ceil(((steps ?? Infinity) * STEP_MS) / DISCOVERY_TICK_MS)
        console.log(`50 nodes: converged after ${(steps ?? NaN) * STEP_MS} ms of simulated time = ${ticks} tick(s) (bound ${BOUND_TICKS})`)
        expect(ticks).toBeLessThanOrEqual(BOUND_TICKS)
        for (const node of sim.running()) expect(yield* unverifiableEntries(node)).toEqual([])
        // Stable: a tick later (re-signed NodeInfos, rotation at work) it still holds.
        yield* TestClock.adjust(DISCOVERY_TICK_MS)
        expect(yield* converged).toBe(true)
      }).pipe(Effect.provide(Layer.merge(SimNetwork.layer({ seed: SEED }), InlineCryptoLayer))),
    120_000
  )
})
