/**
 * The validity rules of a `SignedNodeInfo` received from a peer (DESIGN.md §5), as pure functions:
 * it decodes within the limits (≤ 4 addresses of ≤ 256 bytes — the decoder refuses more before
 * allocating), it is not ours, its timestamp is within [now − 24 h, now + 30 s], it names the PeerId we
 * expect when it is someone's own info, and — checked in a batch afterwards — its signature by the key
 * that *is* its PeerId verifies over `intent(DiscoveryPeers) || bcs(NodeInfo)`.
 */
import { Either } from "effect"
import { decodeSignedNodeInfo, nodeInfoSigningMessage, type SignedNodeInfo } from "../../../domain/nodeInfo.js"
import { peerIdBytes, type PeerId } from "../../../domain/PeerId.js"
import type { VerifyItem } from "../../../services/Crypto.js"
import type { Offence, PeerPolicy } from "../../../services/PeerManager.js"

/** Why a NodeInfo was refused. */
export type NodeInfoRejection =
  | { readonly reason: "Malformed"; readonly detail: string } // not a valid encoding
  | { readonly reason: "OverLimits"; readonly detail: string } // too many or too long addresses
  | { readonly reason: "Ours" } // our own NodeInfo, relayed back (harmless)
  | { readonly reason: "FromTheFuture"; readonly peerId: PeerId; readonly timestampMs: number }
  | { readonly reason: "Expired"; readonly peerId: PeerId; readonly timestampMs: number }
  | { readonly reason: "WrongPeer"; readonly expected: PeerId; readonly got: PeerId } // someone's own info names another node
  | { readonly reason: "BadSignature"; readonly peerId: PeerId } // not signed by the key of its PeerId

/** What a sender of a refused NodeInfo is charged with (`undefined`: nothing). */
export const offenceOf = (rejection: NodeInfoRejection): Offence | undefined => {
  switch (rejection.reason) {
    case "Ours":
      return undefined
    case "FromTheFuture":
    case "Expired":
      return "StaleNodeInfo"
    case "Malformed":
    case "OverLimits":
    case "WrongPeer":
    case "BadSignature":
      return "InvalidNodeInfo"
  }
}

/** A one-line description of a rejection for logs. */
export const describeRejection = (rejection: NodeInfoRejection): string => {
  switch (rejection.reason) {
    case "Malformed":
    case "OverLimits":
      return `${rejection.reason}: ${rejection.detail}`
    case "Ours":
      return "Ours"
    case "FromTheFuture":
    case "Expired":
      return `${rejection.reason}: ${rejection.peerId.slice(0, 8)} at ${rejection.timestampMs}`
    case "WrongPeer":
      return `WrongPeer: expected ${rejection.expected.slice(0, 8)}, got ${rejection.got.slice(0, 8)}`
    case "BadSignature":
      return `BadSignature: ${rejection.peerId.slice(0, 8)}`
  }
}

/** What the checks compare against. */
export interface NodeInfoContext {
  readonly nowMs: number
  readonly self: PeerId
  readonly policy: Pick<PeerPolicy, "maxFutureSkewMs" | "maxInfoAgeMs">
  /** For someone's own info (a responder's, a caller's): the PeerId it must name. */
  readonly expectedPeerId?: PeerId
}

/** Every check but the signature, cheapest first. */
export const precheckNodeInfo = (bytes: Uint8Array, context: NodeInfoContext): Either.Either<SignedNodeInfo, NodeInfoRejection> => {
  const decoded = decodeSignedNodeInfo(bytes)
  if (Either.isLeft(decoded)) {
    const error = decoded.left
    return Either.left({ reason: error.reason === "VectorTooLong" ? "OverLimits" : "Malformed", detail: error.message })
  }
  return checkDecodedNodeInfo(decoded.right, context)
}

/** The checks after decoding (the decoder already enforced the limits). */
export const checkDecodedNodeInfo = (signed: SignedNodeInfo, context: NodeInfoContext): Either.Either<SignedNodeInfo, NodeInfoRejection> => {
  const { peerId, timestampMs } = signed.info
  if (context.expectedPeerId !== undefined && peerId !== context.expectedPeerId) {
    return Either.left({ reason: "WrongPeer", expected: context.expectedPeerId, got: peerId })
  }
  if (peerId === context.self) return Either.left({ reason: "Ours" })
  if (timestampMs > context.nowMs + context.policy.maxFutureSkewMs) return Either.left({ reason: "FromTheFuture", peerId, timestampMs })
  if (context.nowMs - timestampMs >= context.policy.maxInfoAgeMs) return Either.left({ reason: "Expired", peerId, timestampMs })
  return Either.right(signed)
}

/** The signature check of a NodeInfo: by the key its PeerId stands for. */
export const nodeInfoVerifyItem = (signed: SignedNodeInfo): VerifyItem => ({
  publicKey: peerIdBytes(signed.info.peerId),
  message: nodeInfoSigningMessage(signed.info),
  signature: signed.signature
})
