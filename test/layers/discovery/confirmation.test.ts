/**
 * Confirmation dials, through the discovery loop on the simulated network: a peer two voices reported,
 * neither credible yet, waits on probation — late in discovery most of what a node still misses is such a
 * peer. A "Confirm" dial proves it real by connecting alone: the peer moves into the table without being
 * asked for its known peers (a confirmation dial is the cheap one, sixteen a round), the extra connection
 * is dropped at once when the node is at its target, and its introducer is not credited (colluding liars
 * all report their real fellow attackers; crediting what many voices repeat made liars credible). A single
 * voice is not enough: with nothing else to dial it, such a peer stays on probation.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Layer, Ref, type Scope } from "effect"
import { encodeSignedNodeInfo, type SignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { DISCOVERY_TICK_MS } from "../../../src/layers/discovery/constants.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import { SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import { makeSimDiscoveryWorld, simAddress, type SimDiscoveryNode } from "../../../src/testkit/discovery/simWorld.js"
import { makeVirtualTime, type VirtualTime } from "../../../src/testkit/discovery/virtualTime.js"
import type { Crypto } from "../../../src/services/Crypto.js"
import { InlineCryptoLayer, SIM_START_MS } from "./fixtures.js"
import { peerOf, signedInfo } from "./nodeInfos.js"

const SEED = 21
/** Test-key indices: the peer to confirm and the two responders that report it. */
const P = 20
const FIRST = 11
const SECOND = 12
const TARGET = 1
const STEP_MS = 100
/** Rounds the node gets: the first round starts within a tick of the start, so three ticks are ≥ 2 rounds. */
const TICKS = 3

/** A scripted honest peer on the simulated network: it accepts dials and answers GetKnownPeers with its own NodeInfo and `relays`. */
interface ScriptedPeer {
  readonly peerId: PeerId
  /** When each GetKnownPeers call from `caller` arrived. */
  readonly callsFrom: (caller: PeerId) => Effect.Effect<ReadonlyArray<number>>
}

const startScriptedPeer = (index: number, relays: ReadonlyArray<SignedNodeInfo>): Effect.Effect<ScriptedPeer, never, SimNetwork | Scope.Scope> =>
  Effect.gen(function* () {
    const peerId = peerOf(index)
    const address = simAddress(peerId)
    const network = yield* makeSimNode({ peerId, address })
    const calls = yield* Ref.make<ReadonlyArray<{ readonly caller: PeerId; readonly atMs: number }>>([])
    yield* network.handleUnary(P2pMethods.GetKnownPeers, (_request, context) =>
      Effect.gen(function* () {
        const nowMs = yield* Clock.currentTimeMillis
        yield* Ref.update(calls, (list) => [...list, { caller: context.peerId, atMs: nowMs }])
        return { ownInfo: encodeSignedNodeInfo(signedInfo(index, nowMs, { addresses: [address] })), knownPeers: relays.map(encodeSignedNodeInfo) }
      })
    )
    return { peerId, callsFrom: (caller) => Effect.map(Ref.get(calls), (list) => list.filter((c) => c.caller === caller).map((c) => c.atMs)) }
  })

/** The node under test, seeded with `responders`: target 1, no rotation, no feelers (see below). */
const startNode = (responders: ReadonlyArray<PeerId>): Effect.Effect<SimDiscoveryNode, never, SimNetwork | Crypto | Scope.Scope> =>
  Effect.gen(function* () {
    const sim = yield* makeSimDiscoveryWorld({
      seed: SEED,
      nodes: 1,
      seedsOf: () => [],
      extraSeedsOf: () => responders.map((peerId) => ({ peerId, address: simAddress(peerId) })),
      tuning: { targetConnections: TARGET, rotationProbability: 0 },
      // P is its introducer's only untested introduction, so a feeler — planned before the confirmation
      // dials of the same round, and queried — would reach it first. Without feelers (and with no rotation,
      // no credible peer to learn from, and the node at its target) a confirmation dial is the only way to P.
      policy: { feelersPerRound: 0 }
    })
    return yield* sim.start(0)
  })

const onSimWorld = <A, E>(body: (time: VirtualTime) => Effect.Effect<A, E, SimNetwork | Crypto | Scope.Scope>) => {
  const time = makeVirtualTime(SIM_START_MS)
  return time.run(Effect.scoped(body(time)).pipe(Effect.provide(Layer.merge(SimNetwork.layer({ seed: SEED }), InlineCryptoLayer))))
}

const knownWithInfo = (node: SimDiscoveryNode, peerId: PeerId) =>
  Effect.map(node.manager.snapshot, (s) => s.known.some((v) => v.peerId === peerId && v.info !== undefined && !v.banned))

const connectedIntroductions = (node: SimDiscoveryNode, responders: ReadonlyArray<PeerId>) =>
  Effect.map(node.manager.snapshot, (s) =>
    s.known.filter((v) => responders.includes(v.peerId)).reduce((sum, v) => sum + v.introductions.connected, 0)
  )

describe("confirmation dials (a probation entry two voices reported)", () => {
  it.live(
    "reach the peer into the table without querying it, drop the connection at target, and credit no introducer",
    () =>
      onSimWorld((time) =>
        Effect.gen(function* () {
          const info = signedInfo(P, SIM_START_MS, { addresses: [simAddress(peerOf(P))] })
          const p = yield* startScriptedPeer(P, [])
          const first = yield* startScriptedPeer(FIRST, [info])
          const second = yield* startScriptedPeer(SECOND, [info])
          const responders = [first.peerId, second.peerId]
          const node = yield* startNode(responders)

          // Step through the run, noting when both responders had reported P while it was still not in the
          // table (on probation, with a second reporter: neither responder is credible), and when it got in.
          let waitedOnProbation = false
          let introductionsBefore = -1
          let reachedAtMs: number | undefined
          while (reachedAtMs === undefined && time.nowMs() < SIM_START_MS + TICKS * DISCOVERY_TICK_MS) {
            yield* time.advance(STEP_MS)
            const answered = (yield* first.callsFrom(node.peerId)).length > 0 && (yield* second.callsFrom(node.peerId)).length > 0
            if (yield* knownWithInfo(node, p.peerId)) reachedAtMs = time.nowMs()
            else if (answered) {
              waitedOnProbation = true
              introductionsBefore = yield* connectedIntroductions(node, responders)
            }
          }
          expect(waitedOnProbation).toBe(true)
          expect(reachedAtMs).toBeDefined()

          // Reached by a dial (a connection from the node to P), never asked for its known peers.
          const trace = yield* Effect.flatMap(SimNetwork, (world) => world.trace)
          const toP = trace.filter((e) => (e.kind === "connected" || e.kind === "disconnected") && e.from === node.peerId && e.to === p.peerId)
          const connected = toP.find((e) => e.kind === "connected")
          expect(connected).toBeDefined()
          expect(yield* p.callsFrom(node.peerId)).toEqual([])

          // The confirmation connection was hung up by the dial itself (not by a later round's trim): the node
          // is back at its target, not connected to P.
          const hungUp = toP.find((e) => e.kind === "disconnected")
          expect(hungUp?.kind === "disconnected" ? hungUp.reason : undefined).toBe("HangUp")
          expect((hungUp?.atMs ?? Infinity) - (connected?.atMs ?? 0)).toBeLessThan(DISCOVERY_TICK_MS)
          const open = yield* node.network.connectedPeers
          expect(open.length).toBeLessThanOrEqual(TARGET)
          expect(open).not.toContain(p.peerId)

          // Its introducer was not credited for it (nor anyone: the responders introduced nothing else).
          expect(introductionsBefore).toBe(0)
          expect(yield* connectedIntroductions(node, responders)).toBe(introductionsBefore)

          // And no query later either: a few more rounds with P in the table.
          yield* time.advance(2 * DISCOVERY_TICK_MS)
          expect(yield* p.callsFrom(node.peerId)).toEqual([])
          expect(yield* knownWithInfo(node, p.peerId)).toBe(true)
        })
      ),
    30_000
  )

  it.live(
    "are not made for a peer only one voice reported: it stays on probation",
    () =>
      onSimWorld((time) =>
        Effect.gen(function* () {
          const info = signedInfo(P, SIM_START_MS, { addresses: [simAddress(peerOf(P))] })
          const p = yield* startScriptedPeer(P, [])
          const only = yield* startScriptedPeer(FIRST, [info])
          const node = yield* startNode([only.peerId])

          for (let tick = 0; tick < TICKS + 2; tick++) yield* time.advance(DISCOVERY_TICK_MS)
          expect((yield* only.callsFrom(node.peerId)).length).toBeGreaterThanOrEqual(TICKS)
          const world = yield* SimNetwork
          const dialsToP = (yield* world.trace).filter((e) => e.kind === "connected" && e.from === node.peerId && e.to === p.peerId)
          expect(dialsToP).toEqual([])
          expect(yield* knownWithInfo(node, p.peerId)).toBe(false)
        })
      ),
    30_000
  )
})
