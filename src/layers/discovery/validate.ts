/**
 * Validates a batch of received NodeInfos: the pure checks first, then one `Crypto.verifyMany` for every
 * entry that survives them and could change the table. An entry that is not newer than the NodeInfo we
 * hold for its peer is skipped unverified — it could not replace anything, and verifying the 200
 * mostly-known entries of every answer would dominate discovery's CPU.
 */
import { Effect, Either } from "effect"
import type { SignedNodeInfo } from "../../domain/nodeInfo.js"
import type { PeerId } from "../../domain/PeerId.js"
import type { CryptoService } from "../../services/Crypto.js"
import { nodeInfoVerifyItem, precheckNodeInfo, type NodeInfoContext, type NodeInfoRejection } from "./nodeInfoRules.js"

/** One received entry; `expectedPeerId` is set for someone's own info. */
export interface ReceivedEntry {
  readonly bytes: Uint8Array
  readonly expectedPeerId?: PeerId
}

/** The verdicts of a batch. */
export interface BatchVerdict {
  readonly accepted: ReadonlyArray<SignedNodeInfo>
  readonly rejected: ReadonlyArray<NodeInfoRejection>
  /** Entries valid so far but not newer than what we hold: not verified, not stored. */
  readonly skipped: number
}

/** Validates `entries`; `storedTimestamp` tells the timestamp of the NodeInfo we hold for a peer. */
export const validateNodeInfos = (
  crypto: CryptoService,
  entries: ReadonlyArray<ReceivedEntry>,
  context: Omit<NodeInfoContext, "expectedPeerId">,
  storedTimestamp: (peerId: PeerId) => number | undefined
): Effect.Effect<BatchVerdict> =>
  Effect.gen(function* () {
    const rejected: Array<NodeInfoRejection> = []
    const candidates: Array<SignedNodeInfo> = []
    let skipped = 0
    for (const entry of entries) {
      const checked = precheckNodeInfo(entry.bytes, entry.expectedPeerId === undefined ? context : { ...context, expectedPeerId: entry.expectedPeerId })
      if (Either.isLeft(checked)) {
        rejected.push(checked.left)
        continue
      }
      const held = storedTimestamp(checked.right.info.peerId)
      if (held !== undefined && held >= checked.right.info.timestampMs) skipped += 1
      else candidates.push(checked.right)
    }
    if (candidates.length === 0) return { accepted: [], rejected, skipped }
    const verdicts = yield* crypto.verifyMany(candidates.map(nodeInfoVerifyItem))
    const accepted: Array<SignedNodeInfo> = []
    candidates.forEach((signed, i) => {
      if (verdicts[i] === true) accepted.push(signed)
      else rejected.push({ reason: "BadSignature", peerId: signed.info.peerId })
    })
    return { accepted, rejected, skipped }
  })
