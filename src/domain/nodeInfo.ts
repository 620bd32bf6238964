/**
 * `NodeInfo`: how a node advertises itself to discovery. A `SignedNodeInfo` is signed by the node's
 * network key — whose public key *is* the PeerId — over `intent(DiscoveryPeers) || bcs(NodeInfo)`, so
 * nobody can advertise an address for another node (better than Soma: intent-separated, and several
 * addresses with limits that are actually enforced).
 */
import { Either, Schema } from "effect"
import { boundedString, boundedVector, decodeBcs, encodeBcs, fixedBytes, ownedBytes, struct, u32, u64, unitEnum } from "./codec.js"
import { intentMessage, IntentScope } from "./intent.js"
import { MAX_ADDRESS_BYTES, MAX_NODE_ADDRESSES } from "./limits.js"
import { peerIdBytes, peerIdFromPublicKey, PeerId } from "./PeerId.js"
import { BoundedString, Signature, U32, U64 } from "./primitives.js"

/** A signed NodeInfo ends with its Ed25519 signature (a fixed-size field: no length prefix). */
const SIGNATURE_BYTES = 64

/** Whether a node takes part in consensus. */
export const NodeRole = Schema.Literal("Validator", "FullNode")
export type NodeRole = typeof NodeRole.Type

/** Capability flags a node advertises. */
export const Capability = {
  /** Answers FetchCommits / FetchBlocks. */
  ServesStateSync: 1,
  /** Keeps all history (never prunes), so it can serve a node far behind. */
  Archival: 2
} as const

/** A node's advertisement. */
export const NodeInfo = Schema.Struct({
  peerId: PeerId,
  addresses: Schema.Array(BoundedString(MAX_ADDRESS_BYTES, "address")).pipe(Schema.maxItems(MAX_NODE_ADDRESSES)),
  timestampMs: U64,
  role: NodeRole,
  capabilities: U32
})
export type NodeInfo = typeof NodeInfo.Type

/** A NodeInfo signed by the network key of its PeerId. */
export const SignedNodeInfo = Schema.Struct({ info: NodeInfo, signature: Signature })
export type SignedNodeInfo = typeof SignedNodeInfo.Type

const PeerIdBcs = fixedBytes(32, "peerId").transform({
  input: (peerId: PeerId) => peerIdBytes(peerId),
  output: (bytes: Uint8Array) => peerIdFromPublicKey(bytes)
})

/** BCS layout of `NodeInfo`. */
export const NodeInfoBcs = struct("NodeInfo", {
  peerId: PeerIdBcs,
  addresses: boundedVector(boundedString(MAX_ADDRESS_BYTES, "address"), MAX_NODE_ADDRESSES, 1, "addresses"),
  timestampMs: u64,
  role: unitEnum("NodeRole", ["Validator", "FullNode"] as const),
  capabilities: u32
})

/**
 * BCS layout of `SignedNodeInfo`. The signature is copied out: a peer table keeps the info long after
 * the GetKnownPeers answer it came in, which a view would keep whole.
 */
export const SignedNodeInfoBcs = struct("SignedNodeInfo", { info: NodeInfoBcs, signature: ownedBytes(fixedBytes(SIGNATURE_BYTES, "signature")) })

/** Canonical bytes of a NodeInfo. */
export const encodeNodeInfo = (info: NodeInfo): Uint8Array => encodeBcs(NodeInfoBcs, info)

/**
 * Encodings already made, by the (immutable) value they encode: a held NodeInfo is served in many
 * GetKnownPeers answers and checked once per version, so each is encoded once, not per call. Weak, so
 * an entry lives exactly as long as its NodeInfo.
 */
const signedEncodings = new WeakMap<SignedNodeInfo, Uint8Array>()
const signingMessages = new WeakMap<NodeInfo, Uint8Array>()
/** The NodeInfo part of received bytes (`decodeSignedNodeInfo`), for its signing message. */
const receivedInfoBytes = new WeakMap<NodeInfo, Uint8Array>()

/** Canonical bytes of a signed NodeInfo (what GetKnownPeers carries). The caller must not modify them. */
export const encodeSignedNodeInfo = (signed: SignedNodeInfo): Uint8Array => {
  const held = signedEncodings.get(signed)
  if (held !== undefined) return held
  const bytes = encodeBcs(SignedNodeInfoBcs, signed)
  signedEncodings.set(signed, bytes)
  return bytes
}

/**
 * Decodes untrusted signed-NodeInfo bytes; never throws. The bytes (copied: a view would keep a whole
 * GetKnownPeers answer alive) become the value's encoding, and their NodeInfo part what its signature
 * is checked over: a received NodeInfo is never re-encoded, and what we verify is byte for byte what
 * we relay.
 */
export const decodeSignedNodeInfo = (bytes: Uint8Array) => {
  const decoded = decodeBcs(SignedNodeInfoBcs, bytes)
  if (Either.isRight(decoded)) {
    const own = Uint8Array.from(bytes)
    signedEncodings.set(decoded.right, own)
    receivedInfoBytes.set(decoded.right.info, own.subarray(0, own.length - SIGNATURE_BYTES))
  }
  return decoded
}

/** Bytes the network key signs. The caller must not modify them. */
export const nodeInfoSigningMessage = (info: NodeInfo): Uint8Array => {
  const held = signingMessages.get(info)
  if (held !== undefined) return held
  const message = intentMessage(IntentScope.DiscoveryPeers, receivedInfoBytes.get(info) ?? encodeNodeInfo(info))
  signingMessages.set(info, message)
  return message
}

/** Whether a node advertises a capability. */
export const hasCapability = (info: NodeInfo, capability: number): boolean => (info.capabilities & capability) !== 0
