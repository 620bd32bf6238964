/**
 * Validates a batch of received NodeInfos (the entries of one GetKnownPeers answer): the pure checks of
 * `plan/nodeInfoRules.ts` first, then one `Crypto.verifyMany` for every entry that survives them and
 * could change the peer ledger. An entry that is not newer than the NodeInfo the ledger holds for its
 * peer is skipped unverified — it could not replace anything, and verifying the 200 mostly-known entries
 * of every answer would dominate discovery's CPU. Not under `plan/`: it asks the ledger and runs the
 * signature checks, where `plan/` holds only pure functions.
 */
import { Effect, Either } from "effect"
import type { SignedNodeInfo } from "../../domain/nodeInfo.js"
import type { PeerId } from "../../domain/PeerId.js"
import type { PeerManagerService } from "../../services/PeerManager.js"
import type { CryptoService } from "../../services/Crypto.js"
import { nodeInfoVerifyItem, precheckNodeInfo, type NodeInfoContext, type NodeInfoRejection } from "./plan/nodeInfoRules.js"

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

/** Validates `entries`; `newerThanHeld` is the ledger's answer to which NodeInfos could change it. */
export const validateNodeInfos = (
  crypto: CryptoService,
  entries: ReadonlyArray<ReceivedEntry>,
  context: Omit<NodeInfoContext, "expectedPeerId">,
  newerThanHeld: PeerManagerService["newerThanHeld"]
): Effect.Effect<BatchVerdict> =>
  Effect.gen(function* () {
    const rejected: Array<NodeInfoRejection> = []
    const checked: Array<SignedNodeInfo> = []
    for (const entry of entries) {
      const result = precheckNodeInfo(entry.bytes, entry.expectedPeerId === undefined ? context : { ...context, expectedPeerId: entry.expectedPeerId })
      if (Either.isLeft(result)) rejected.push(result.left)
      else checked.push(result.right)
    }
    const newer = checked.length === 0 ? [] : yield* newerThanHeld(checked)
    const candidates = checked.filter((_, i) => newer[i] === true)
    const skipped = checked.length - candidates.length
    if (candidates.length === 0) return { accepted: [], rejected, skipped }
    const verdicts = yield* crypto.verifyMany(candidates.map(nodeInfoVerifyItem))
    const accepted: Array<SignedNodeInfo> = []
    candidates.forEach((signed, i) => {
      if (verdicts[i] === true) accepted.push(signed)
      else rejected.push({ reason: "BadSignature", peerId: signed.info.peerId })
    })
    return { accepted, rejected, skipped }
  })
