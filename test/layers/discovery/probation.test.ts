/**
 * The attack on small tables (bench `--nodes 40 --sybil 0.1` gave `honestShare` 0.07): a node that knows
 * few honest peers, with one connected liar answering fresh valid identities every round. Within the
 * introduction budget the liar used to add 20 identities an answer, which filled the table because a
 * node at its connection target never dials them. Now they wait on probation (never stored, served or
 * counted) until a second introducer reports them or a dial reaches them, so the table and what the node
 * serves stay ≥ 90 % honest.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Layer } from "effect"
import { decodeSignedNodeInfo, encodeSignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { DISCOVERY_TICK_MS } from "../../../src/layers/discovery/constants.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import { SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import { makeSimDiscoveryWorld, simAddress } from "../../../src/testkit/discovery/simWorld.js"
import { makeFakeIdentityMint, startSybilNode } from "../../../src/testkit/discovery/sybil.js"
import { makeVirtualTime } from "../../../src/testkit/discovery/virtualTime.js"
import { InlineCryptoLayer, SIM_START_MS, within } from "./fixtures.js"
import { peerOf, signedInfo } from "./nodeInfos.js"

const HONEST_KNOWN = 30
const TICKS = 40

describe("a small table with one connected liar answering fresh identities every round", () => {
  it.live(
    "stays ≥ 90 % honest, in the table and in what it serves",
    () => {
      const time = makeVirtualTime(SIM_START_MS)
      const program = Effect.gen(function* () {
        const mint = makeFakeIdentityMint(60)
        const attacker = yield* startSybilNode({ seed: 9, index: 0, mint, friends: () => [] })
        // Node 0's only connection is the attacker (target 1, no rotation): it asks the attacker every round.
        const sim = yield* makeSimDiscoveryWorld({
          seed: 9,
          nodes: 1,
          seedsOf: () => [],
          extraSeedsOf: () => [{ peerId: attacker.peerId, address: attacker.address }],
          tuning: { targetConnections: 1, rotationProbability: 0 }
        })
        const node = yield* sim.start(0)
        const now = yield* Clock.currentTimeMillis
        const honest = Array.from({ length: HONEST_KNOWN }, (_, i) => signedInfo(10 + i, now))
        const honestIds = new Set<PeerId>(honest.map((s) => s.info.peerId))
        yield* node.manager.mergeNodeInfos(honest)

        for (let tick = 0; tick < TICKS; tick++) yield* time.advance(DISCOVERY_TICK_MS)
        // The liar was asked for most of the run, until feelers found its identities fake and banned it.
        expect(yield* attacker.answers).toBeGreaterThanOrEqual(TICKS / 2)
        expect((yield* node.manager.snapshot).known.find((v) => v.peerId === attacker.peerId)?.banned).toBe(true)

        const known = (yield* node.manager.snapshot).known.filter((v) => v.info !== undefined && !v.banned)
        const honestShare = known.filter((v) => honestIds.has(v.peerId)).length / known.length
        const fakes = known.filter((v) => mint.minted().has(v.peerId)).length
        console.log(`probation: ${known.length} usable entries, ${fakes} fakes, honest share ${honestShare.toFixed(2)}`)
        expect(honestShare).toBeGreaterThanOrEqual(0.9)

        const caller = yield* makeSimNode({ peerId: peerOf(1) })
        yield* within(time, 1_000, caller.dial(node.peerId, simAddress(node.peerId)))
        const ownInfo = encodeSignedNodeInfo(signedInfo(1, time.nowMs()))
        const response = yield* within(time, 1_000, caller.call(node.peerId, P2pMethods.GetKnownPeers, { ownInfo }, { timeout: "5 seconds" }))
        const served = response.knownPeers.map((bytes) => Either.getOrThrow(decodeSignedNodeInfo(bytes)).info.peerId)
        expect(served.length).toBeGreaterThan(0)
        expect(served.filter((peerId) => honestIds.has(peerId)).length / served.length).toBeGreaterThanOrEqual(0.9)
      })
      return time.run(Effect.scoped(program).pipe(Effect.provide(Layer.merge(SimNetwork.layer({ seed: 9 }), InlineCryptoLayer))))
    },
    120_000
  )
})
