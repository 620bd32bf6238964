/**
 * The server and the node's peer ledger: a caller that sends bytes no honest node sends (not the
 * route's request) is reported, banned after a few, and from then on refused with PERMISSION_DENIED
 * before its calls cost anything but a lookup — while an honest caller is still served.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeSimNetwork, SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import { makePeerManager } from "../../../src/layers/peers/PeerManagerLayer.js"
import { makeP2pServer } from "../../../src/layers/server/P2pServerLayer.js"
import { unaryMethod } from "../../../src/proto/codec.js"
import { P2P_SERVICE, P2pMethods } from "../../../src/proto/P2pMethods.js"
import { Network, type NetworkService } from "../../../src/services/Network.js"
import { PeerManager } from "../../../src/services/PeerManager.js"
import { rawCodec, testPeerId } from "../network/fixtures.js"
import { outcome, settled } from "./fixtures.js"

const OPTIONS = { timeout: "30 seconds" } as const
/** GetCommitAvailability with bytes as its request: lets a test send what no encoder would. */
const AvailabilityRaw = unaryMethod(P2P_SERVICE, "GetCommitAvailability", rawCodec, rawCodec)
/** Not a protobuf message: field 15 with wire type 7, which does not exist. */
const GARBAGE = new Uint8Array([0x7f, 0xff, 0xff, 0xff])

const world = (limits: { readonly ratePerSecond: number; readonly burst: number }) => Effect.gen(function* () {
  const sim = yield* makeSimNetwork({ seed: 12, defaultLink: { latencyMs: 10, lossProbability: 0 } })
  return yield* Effect.gen(function* () {
    const inner = yield* makeSimNode({ peerId: testPeerId(0, "banned-callers") })
    const peers = yield* makePeerManager({ localPeerId: inner.localPeerId })
    const server = yield* makeP2pServer(limits).pipe(
      Effect.provideService(Network, inner),
      Effect.provideService(PeerManager, peers),
      Effect.orDie
    )
    yield* server.handleUnary(P2pMethods.GetCommitAvailability, () => Effect.succeed({ highestSyncedCommit: 7, lowestAvailableCommit: 1, epoch: 0 }))
    const callers: Array<NetworkService> = []
    for (const i of [1, 2]) {
      const caller = yield* makeSimNode({ peerId: testPeerId(i, "banned-callers") })
      yield* Effect.orDie(caller.dial(server.localPeerId, server.listenAddress))
      callers.push(caller)
    }
    return { server, peers, attacker: callers[0]!, honest: callers[1]! }
  }).pipe(Effect.provideService(SimNetwork, sim))
})

describe("P2P server and the peer ledger", () => {
  it.scoped("garbage requests get the caller banned; a banned caller is refused first; an honest caller is still served", () =>
    settled(
      Effect.gen(function* () {
        const { server, peers, attacker, honest } = yield* world({ ratePerSecond: 1_000, burst: 1_000 })
        const to = server.localPeerId
        let refusedAsGarbage = 0
        while (!(yield* peers.isBanned(attacker.localPeerId)) && refusedAsGarbage < 20) {
          const answer = yield* outcome(attacker.call(to, AvailabilityRaw, GARBAGE, OPTIONS))
          expect(answer.code).toBe("INVALID_ARGUMENT")
          refusedAsGarbage++
        }
        // A few (ProtocolViolation penalties against the ban threshold), not a flood's worth.
        expect(refusedAsGarbage).toBeLessThanOrEqual(5)
        expect(yield* peers.isBanned(attacker.localPeerId)).toBe(true)

        // Banned: even a valid request is refused, before the rate limiter or the decoder.
        const valid = yield* outcome(attacker.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS))
        expect(valid).toEqual({ code: "PERMISSION_DENIED", detail: "this peer is banned" })
        expect((yield* outcome(honest.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS))).code).toBe("OK")
        expect(yield* peers.isBanned(honest.localPeerId)).toBe(false)
      })
    )
  )

  it.scoped("refusals an honest peer can run into (its rate, its calls in flight) are never reported", () =>
    settled(
      Effect.gen(function* () {
        const { server, peers, honest } = yield* world({ ratePerSecond: 1, burst: 10 })
        const to = server.localPeerId
        const answers = yield* Effect.forEach(Array.from({ length: 200 }), () => outcome(honest.call(to, P2pMethods.GetCommitAvailability, {}, OPTIONS)), {
          concurrency: 50
        })
        expect(answers.some((a) => a.code === "RESOURCE_EXHAUSTED")).toBe(true)
        expect(yield* peers.isBanned(honest.localPeerId)).toBe(false)
      })
    )
  )
})
