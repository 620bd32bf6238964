/**
 * A Byzantine node that every honest node has as a seed serves forged, expired, future-dated and
 * oversized NodeInfos. None of them ever reaches an honest table (checked after every tick), every
 * honest node ends up banning it and hanging up on it, and the honest nodes still converge.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { DISCOVERY_TICK_MS, TARGET_CONNECTIONS } from "../../../src/layers/discovery/constants.js"
import { convergence, makeSimDiscoveryWorld } from "../../../src/testkit/discovery/simWorld.js"
import { EVIL_ADDRESS, startByzantineNode } from "./byzantine.js"
import { onVirtualTime } from "./fixtures.js"
import { unverifiableEntries } from "./simulate.js"

const HONEST = 12
const ALL = Array.from({ length: HONEST }, (_, i) => i)
const BOUND_TICKS = 12

describe("Byzantine relayer", () => {
  it.live("never poisons an honest table and ends up banned by every honest node", () =>
    onVirtualTime({ seed: 31 }, (time) =>
      Effect.gen(function* () {
        const byzantine = yield* startByzantineNode
        const sim = yield* makeSimDiscoveryWorld({
          seed: 31,
          nodes: HONEST,
          extraSeedsOf: () => [{ peerId: byzantine.peerId, address: byzantine.address }]
        })
        for (const i of ALL) yield* sim.start(i)
        const poison = new Set<string>(byzantine.poisonIds)

        let doneAt: number | undefined
        for (let tick = 1; tick <= BOUND_TICKS && doneAt === undefined; tick++) {
          yield* time.advance(DISCOVERY_TICK_MS)
          let allBanned = true
          for (const node of sim.running()) {
            expect(yield* unverifiableEntries(node)).toEqual([])
            const snapshot = yield* node.manager.snapshot
            expect(snapshot.known.filter((v) => poison.has(v.peerId))).toEqual([])
            expect(snapshot.known.filter((v) => v.info?.info.addresses.includes(EVIL_ADDRESS))).toEqual([])
            const banned = yield* node.manager.isBanned(byzantine.peerId)
            const connected = (yield* node.network.connectedPeers).includes(byzantine.peerId)
            if (banned) expect(connected).toBe(false)
            allBanned = allBanned && banned
          }
          const honest = yield* convergence(sim, ALL, TARGET_CONNECTIONS)
          if (allBanned && honest.converged) doneAt = tick
        }
        console.log(`byzantine: banned by all ${HONEST} honest nodes after ${doneAt} ticks (${yield* byzantine.answers} poisoned answers served)`)
        expect(doneAt).toBeDefined()
        // Banned peers are not served to others either.
        for (const node of sim.running()) {
          const view = (yield* node.manager.snapshot).known.find((v) => v.peerId === byzantine.peerId)
          expect(view?.banned).toBe(true)
          expect(view?.lastOffence).toMatch(/InvalidNodeInfo|StaleNodeInfo/)
        }
      })
    )
  )
})
