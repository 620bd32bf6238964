/**
 * A Byzantine node for the simulations: it looks like a peer (its own NodeInfo is valid, it relays the
 * honest NodeInfos it hears) but every answer also carries poison — forged copies of honest NodeInfos
 * pointing at its own address, a forged NodeInfo of an invented peer, validly signed Sybil NodeInfos
 * that are expired or dated in the future, and one over the address limits.
 */
import { Clock, Effect, Either, Ref, type Scope } from "effect"
import { decodeSignedNodeInfo, encodeSignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { nodeInfoSignedByWrongKey, signNodeInfo } from "../../../src/testkit/faults.js"
import { MAX_INFO_AGE_MS } from "../../../src/layers/peers/policy.js"
import { simAddress } from "../../../src/testkit/discovery/simWorld.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import type { SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import { looseSignedInfoBytes, nodeInfo, peerOf, signerOf } from "./nodeInfos.js"

/** Test-key indices of the Byzantine node and of the identities it makes up. */
const BYZANTINE = 900
const STALE_SYBIL = 901
const FUTURE_SYBIL = 902
const INVENTED = 903
const OVERSIZED = 904

/** The address the forged copies point at. */
export const EVIL_ADDRESS = "sim://evil"

/** What a test needs to know about the Byzantine node. */
export interface ByzantineNode {
  readonly peerId: PeerId
  readonly address: string
  /** Identities that must never appear in an honest table. */
  readonly poisonIds: ReadonlyArray<PeerId>
  /** Answers it has served. */
  readonly answers: Effect.Effect<number>
}

/** Starts the Byzantine node in the current scope. */
export const startByzantineNode: Effect.Effect<ByzantineNode, never, SimNetwork | Scope.Scope> = Effect.gen(function* () {
  const peerId = peerOf(BYZANTINE)
  const address = simAddress(peerId)
  const signer = signerOf(BYZANTINE)
  const network = yield* makeSimNode({ peerId, address })
  const heard = yield* Ref.make(new Map<PeerId, Uint8Array>())
  const answers = yield* Ref.make(0)

  yield* network.handleUnary(P2pMethods.GetKnownPeers, (request) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const caller = decodeSignedNodeInfo(request.ownInfo)
      if (Either.isRight(caller)) yield* Ref.update(heard, (m) => new Map(m).set(caller.right.info.peerId, request.ownInfo))
      const honest = [...(yield* Ref.get(heard)).values()]
      const forgedCopies = honest.flatMap((bytes) => {
        const decoded = decodeSignedNodeInfo(bytes)
        return Either.isRight(decoded)
          ? [encodeSignedNodeInfo(nodeInfoSignedByWrongKey({ ...decoded.right.info, addresses: [EVIL_ADDRESS], timestampMs: now }, signer))]
          : []
      })
      const poison = [
        ...forgedCopies,
        encodeSignedNodeInfo(nodeInfoSignedByWrongKey(nodeInfo(INVENTED, now), signer)),
        encodeSignedNodeInfo(signNodeInfo(nodeInfo(STALE_SYBIL, now - MAX_INFO_AGE_MS - 60_000), signerOf(STALE_SYBIL))),
        encodeSignedNodeInfo(signNodeInfo(nodeInfo(FUTURE_SYBIL, now + 10 * 60_000), signerOf(FUTURE_SYBIL))),
        looseSignedInfoBytes(OVERSIZED, now, ["a", "b", "c", "d", "e"])
      ]
      yield* Ref.update(answers, (n) => n + 1)
      const own = signNodeInfo(nodeInfo(BYZANTINE, now, { addresses: [address] }), signer)
      return { ownInfo: encodeSignedNodeInfo(own), knownPeers: [...honest, ...poison] }
    })
  )

  return {
    peerId,
    address,
    poisonIds: [STALE_SYBIL, FUTURE_SYBIL, INVENTED, OVERSIZED].map(peerOf),
    answers: Ref.get(answers)
  }
})
