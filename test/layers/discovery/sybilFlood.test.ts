/**
 * The attack found against a real node: one connected peer answers every GetKnownPeers with fresh,
 * validly signed identities dated now + 29 s (keys are free). Before, the flood outranked and evicted
 * every honest entry in 12 answers and filled everything the node served. Now, a node that knows 400
 * honest peers (table cap 500) keeps ≥ 90 % of them after many answers, and what it serves stays
 * honest: new peers are budgeted per introducer (the rest dropped unverified) and the table ranks by
 * what the node observed, not by the signer's clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Layer } from "effect"
import { decodeSignedNodeInfo, encodeSignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { DISCOVERY_TICK_MS } from "../../../src/layers/discovery/constants.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import { SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { MAX_NEW_PER_ANSWER, MAX_NEW_PER_WINDOW } from "../../../src/layers/peers/policy.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import { Crypto } from "../../../src/services/Crypto.js"
import { makeSimDiscoveryWorld, simAddress } from "../../../src/testkit/discovery/simWorld.js"
import { makeFakeIdentityMint, startSybilNode } from "../../../src/testkit/discovery/sybil.js"
import { makeVirtualTime } from "../../../src/testkit/discovery/virtualTime.js"
import { InlineCryptoLayer, SIM_START_MS, within } from "./fixtures.js"
import { peerOf, signedInfo } from "./nodeInfos.js"

const HONEST_KNOWN = 400
const TABLE_CAP = 500
const TICKS = 40

/** Inline crypto that counts the signatures it checks. */
const countingCrypto = (counter: { verified: number }) =>
  Layer.effect(
    Crypto,
    Effect.map(Crypto, (crypto) => ({
      ...crypto,
      verify: (item) => Effect.tap(crypto.verify(item), () => Effect.sync(() => void (counter.verified += 1))),
      verifyMany: (items) => Effect.tap(crypto.verifyMany(items), () => Effect.sync(() => void (counter.verified += items.length)))
    }))
  ).pipe(Layer.provide(InlineCryptoLayer))

describe("a connected peer flooding fresh identities dated now + 29 s", () => {
  it.live(
    "leaves ≥ 90 % of the honest entries and an honest served sample, and gets only its budget verified",
    () => {
      const time = makeVirtualTime(SIM_START_MS)
      const counter = { verified: 0 }
      const program = Effect.gen(function* () {
        const mint = makeFakeIdentityMint(60) // 60 new identities in each answer (a new second each), repeated to fill it
        const attacker = yield* startSybilNode({ seed: 7, index: 0, mint, friends: () => [] })
        // Node 0 knows only the attacker as a seed and aims for one connection, so it asks the attacker
        // every round and never dials anyone else (no rotation): the attacker is its one source of news.
        const sim = yield* makeSimDiscoveryWorld({
          seed: 7,
          nodes: 1,
          seedsOf: () => [],
          extraSeedsOf: () => [{ peerId: attacker.peerId, address: attacker.address }],
          tuning: { targetConnections: 1, rotationProbability: 0 },
          policy: { maxKnownPeers: TABLE_CAP }
        })
        const node = yield* sim.start(0)
        const now = yield* Clock.currentTimeMillis
        const honest = Array.from({ length: HONEST_KNOWN }, (_, i) => signedInfo(10 + i, now))
        const honestIds = new Set<PeerId>(honest.map((s) => s.info.peerId))
        yield* node.manager.mergeNodeInfos(honest)

        counter.verified = 0
        for (let tick = 0; tick < TICKS; tick++) yield* time.advance(DISCOVERY_TICK_MS)
        const answers = yield* attacker.answers
        // The flood ran for most of the run, until feelers (dials of its untested introductions) found its
        // identities fake and its FailedIntroductions charges banned it.
        expect(answers).toBeGreaterThanOrEqual(TICKS / 2)
        expect((yield* node.manager.snapshot).known.find((v) => v.peerId === attacker.peerId)?.banned).toBe(true)

        const known = (yield* node.manager.snapshot).known.filter((v) => v.info !== undefined)
        const honestLeft = known.filter((v) => honestIds.has(v.peerId)).length
        const fakes = known.filter((v) => mint.minted().has(v.peerId)).length
        console.log(`flood: ${answers} answers of 200 entries (60 new identities each); ${honestLeft}/${HONEST_KNOWN} honest kept, ${fakes} fakes stored, ${counter.verified} signatures checked`)
        expect(honestLeft / HONEST_KNOWN).toBeGreaterThanOrEqual(0.9)
        // Only the introduction budget was verified: ≤ 20 per answer, ≤ 200 per 10 min, plus the attacker's own info.
        expect(fakes).toBeLessThanOrEqual(MAX_NEW_PER_WINDOW)
        expect(counter.verified).toBeLessThanOrEqual(Math.min(answers * MAX_NEW_PER_ANSWER, MAX_NEW_PER_WINDOW) + answers)

        // What node 0 serves to an honest caller stays honest.
        const caller = yield* makeSimNode({ peerId: peerOf(1) })
        yield* within(time, 1_000, caller.dial(node.peerId, simAddress(node.peerId)))
        const ownInfo = encodeSignedNodeInfo(signedInfo(1, time.nowMs()))
        const response = yield* within(time, 1_000, caller.call(node.peerId, P2pMethods.GetKnownPeers, { ownInfo }, { timeout: "5 seconds" }))
        const served = response.knownPeers.map((bytes) => Either.getOrThrow(decodeSignedNodeInfo(bytes)).info.peerId)
        expect(served).toHaveLength(200)
        expect(served.filter((peerId) => honestIds.has(peerId)).length / served.length).toBeGreaterThanOrEqual(0.9)
      })
      return time.run(Effect.scoped(program).pipe(Effect.provide(Layer.merge(SimNetwork.layer({ seed: 7 }), countingCrypto(counter)))))
    },
    120_000
  )
})
