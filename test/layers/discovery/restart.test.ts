/**
 * A node that stops is kept by the others (disconnected, redialled with backoff), and when it restarts
 * with the same key and address it is re-discovered: everyone stores its new NodeInfo and it is back
 * at its target number of connections.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { DISCOVERY_TICK_MS, TARGET_CONNECTIONS } from "../../../src/layers/discovery/constants.js"
import { convergence, makeSimDiscoveryWorld } from "../../../src/testkit/discovery/simWorld.js"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { onVirtualTime } from "./fixtures.js"
import { stepsUntil } from "./simulate.js"

const NODES = 16
const ALL = Array.from({ length: NODES }, (_, i) => i)
const RESTARTED = 5
const BOUND_TICKS = 10

describe("restart", () => {
  it.live("a restarted node is re-discovered; while it is down the others keep it", () =>
    onVirtualTime({ seed: 5 }, (time) =>
      Effect.gen(function* () {
        const sim = yield* makeSimDiscoveryWorld({ seed: 5, nodes: NODES })
        for (const i of ALL) yield* sim.start(i)
        const converged = (freshSinceMs = 0) => Effect.map(convergence(sim, ALL, TARGET_CONNECTIONS, freshSinceMs), (c) => c.converged)
        expect(yield* stepsUntil(time.advance, DISCOVERY_TICK_MS, BOUND_TICKS, converged())).toBeDefined()

        const restartedId = sim.peerIds[RESTARTED] as PeerId
        yield* sim.stop(RESTARTED)
        yield* time.advance(6 * DISCOVERY_TICK_MS)
        // Nobody forgot it: its record and NodeInfo are kept, marked disconnected.
        for (const node of sim.running()) {
          const view = yield* node.manager.peer(restartedId)
          expect(Option.isSome(view) && view.value.info !== undefined).toBe(true)
          expect(Option.map(view, (v) => v.connection._tag)).not.toEqual(Option.some("Connected"))
          expect(yield* node.network.connectedPeers).not.toContain(restartedId)
        }

        const restartedAt = time.nowMs()
        yield* sim.start(RESTARTED)
        const ticks = yield* stepsUntil(time.advance, DISCOVERY_TICK_MS, BOUND_TICKS, converged(restartedAt))
        console.log(`restart: re-discovered in ${ticks} ticks`)
        expect(ticks).toBeDefined()
        expect(ticks).toBeLessThanOrEqual(BOUND_TICKS)
      })
    )
  )
})
