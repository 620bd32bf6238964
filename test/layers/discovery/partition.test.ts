/**
 * A partition splits the network into two halves that each fill their connections among themselves;
 * after it heals, rotation dials across again and both halves learn each other's fresh NodeInfos.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { DISCOVERY_TICK_MS, TARGET_CONNECTIONS } from "../../../src/layers/discovery/constants.js"
import { convergence, makeSimDiscoveryWorld, type SimDiscoveryWorld } from "../../../src/testkit/discovery/simWorld.js"
import type { VirtualTime } from "../../../src/testkit/discovery/virtualTime.js"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { onVirtualTime } from "./fixtures.js"
import { stepsUntil } from "./simulate.js"

const NODES = 20
const ALL = Array.from({ length: NODES }, (_, i) => i)
const LEFT = ALL.filter((i) => i < NODES / 2)
const RIGHT = ALL.filter((i) => i >= NODES / 2)
/** Ticks allowed for the first convergence, and for the halves to find each other after the heal. */
const CONVERGE_BOUND_TICKS = 6
const HEAL_BOUND_TICKS = 20

/** Outbound connections from one half to the other. */
const crossConnections = (sim: SimDiscoveryWorld) =>
  Effect.gen(function* () {
    const right = new Set<PeerId>(RIGHT.map((i) => sim.peerIds[i] as PeerId))
    let count = 0
    for (const node of sim.running()) {
      const inRight = right.has(node.peerId)
      for (const peer of yield* node.network.connectedPeers) if (right.has(peer) !== inRight) count++
    }
    return count
  })

const splitAndHeal = (time: VirtualTime, rotationProbability: number | undefined) =>
  Effect.gen(function* () {
    const sim = yield* makeSimDiscoveryWorld({ seed: 11, nodes: NODES, ...(rotationProbability === undefined ? {} : { tuning: { rotationProbability } }) })
    for (const i of ALL) yield* sim.start(i)
    const converged = (among: ReadonlyArray<number>, freshSinceMs = 0) =>
      Effect.map(convergence(sim, among, TARGET_CONNECTIONS, freshSinceMs), (c) => c.converged)
    const first = yield* stepsUntil(time.advance, DISCOVERY_TICK_MS, CONVERGE_BOUND_TICKS, converged(ALL))
    expect(first).toBeDefined()

    yield* sim.world.partition([LEFT.map((i) => sim.peerIds[i] as PeerId)])
    const splitAt = time.nowMs()
    // Cross connections die once keepalive notices (15 s); each half refills within itself.
    const halvesApart = Effect.gen(function* () {
      return (yield* crossConnections(sim)) === 0 && (yield* converged(LEFT, splitAt)) && (yield* converged(RIGHT, splitAt))
    })
    const apart = yield* stepsUntil(time.advance, DISCOVERY_TICK_MS, HEAL_BOUND_TICKS, halvesApart)
    expect(apart).toBeDefined()
    // ...and stays apart while the partition lasts.
    yield* time.advance(4 * DISCOVERY_TICK_MS)
    expect(yield* crossConnections(sim)).toBe(0)

    yield* sim.world.heal
    const healedAt = time.nowMs()
    const healed = yield* stepsUntil(
      time.advance,
      DISCOVERY_TICK_MS,
      HEAL_BOUND_TICKS,
      Effect.zipWith(converged(ALL, healedAt), crossConnections(sim), (all, cross) => all && cross > 0)
    )
    return { first, apart, healed }
  })

describe("partition", () => {
  it.live("two halves split, each stays connected within itself, and they find each other again after the heal", () =>
    onVirtualTime({ seed: 11 }, (time) =>
      Effect.gen(function* () {
        const { first, apart, healed } = yield* splitAndHeal(time, undefined)
        console.log(`partition: converged in ${first} ticks, apart in ${apart}, healed in ${healed} ticks`)
        expect(healed).toBeDefined()
        expect(healed).toBeLessThanOrEqual(HEAL_BOUND_TICKS)
      })
    )
  )

  it.live("without rotation the healed halves would stay apart (why rotation exists)", () =>
    onVirtualTime({ seed: 11 }, (time) =>
      Effect.gen(function* () {
        const { healed } = yield* splitAndHeal(time, 0)
        expect(healed).toBeUndefined()
      })
    )
  )
})
