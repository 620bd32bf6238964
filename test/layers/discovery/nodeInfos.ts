/**
 * Signed NodeInfos for the discovery and peer-ledger tests: deterministic keys per index, honest and faulty variants, and a
 * hand-made encoder for infos the real codec refuses to write (over the limits).
 */
import { bcs } from "@mysten/bcs"
import { intentMessage, IntentScope } from "../../../src/domain/intent.js"
import { Capability, type NodeInfo, type SignedNodeInfo } from "../../../src/domain/nodeInfo.js"
import { peerIdBytes, peerIdFromPublicKey, type PeerId } from "../../../src/domain/PeerId.js"
import { signNodeInfo } from "../../../src/testkit/faults.js"
import { deriveSeed, TestSigner } from "../../../src/testkit/keys.js"
import { nativeVerify } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { nodeInfoVerifyItem } from "../../../src/layers/discovery/plan/nodeInfoRules.js"

const signers = new Map<number, TestSigner>()

/** The signer (network key) of test node `index`. */
export const signerOf = (index: number): TestSigner => {
  let signer = signers.get(index)
  if (signer === undefined) {
    signer = new TestSigner(deriveSeed("discovery-test", index))
    signers.set(index, signer)
  }
  return signer
}

/** The PeerId of test node `index`. */
export const peerOf = (index: number): PeerId => peerIdFromPublicKey(signerOf(index).publicKey)

/** The NodeInfo of node `index` at `timestampMs`. */
export const nodeInfo = (index: number, timestampMs: number, overrides: Partial<NodeInfo> = {}): NodeInfo => ({
  peerId: peerOf(index),
  addresses: [`sim://${index}`],
  timestampMs,
  role: "FullNode",
  capabilities: Capability.ServesStateSync,
  ...overrides
})

/** Node `index`'s NodeInfo at `timestampMs`, signed by its own key. */
export const signedInfo = (index: number, timestampMs: number, overrides: Partial<NodeInfo> = {}): SignedNodeInfo =>
  signNodeInfo(nodeInfo(index, timestampMs, overrides), signerOf(index))

/** Whether a stored NodeInfo's signature verifies (strict, OpenSSL). */
export const verifies = (signed: SignedNodeInfo): boolean => nativeVerify(nodeInfoVerifyItem(signed))

const LooseNodeInfo = bcs.struct("LooseNodeInfo", {
  peerId: bcs.fixedArray(32, bcs.u8()),
  addresses: bcs.vector(bcs.string()),
  timestampMs: bcs.u64(),
  role: bcs.enum("NodeRole", { Validator: null, FullNode: null }),
  capabilities: bcs.u32()
})
const LooseSignedNodeInfo = bcs.struct("LooseSignedNodeInfo", { info: LooseNodeInfo, signature: bcs.fixedArray(64, bcs.u8()) })

/**
 * Bytes of a NodeInfo with any addresses (the real encoder refuses more than 4 or longer than 256
 * bytes), signed over exactly those bytes with the intent prefix by node `index`.
 */
export const looseSignedInfoBytes = (index: number, timestampMs: number, addresses: ReadonlyArray<string>): Uint8Array => {
  const info = {
    peerId: Array.from(peerIdBytes(peerOf(index))),
    addresses: [...addresses],
    timestampMs: BigInt(timestampMs),
    role: { FullNode: true },
    capabilities: Capability.ServesStateSync
  }
  const infoBytes = LooseNodeInfo.serialize(info).toBytes()
  const message = intentMessage(IntentScope.DiscoveryPeers, infoBytes)
  const signature = signerOf(index).sign(message)
  return LooseSignedNodeInfo.serialize({ info, signature: Array.from(signature) }).toBytes()
}
