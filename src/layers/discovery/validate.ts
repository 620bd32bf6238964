/**
 * Validates a batch of received NodeInfos (the entries of one GetKnownPeers answer): the pure checks of
 * `plan/nodeInfoRules.ts` first, then the ledger's word on which of the survivors are worth checking,
 * then one `Crypto.verifyMany` for those only. The responder's own NodeInfo is worth checking when it
 * is newer than what we hold; the peers it relays, when the ledger admits them (`admitIntroductions`:
 * a newer NodeInfo of a known peer, or a new peer within the responder's introduction budget; a peer
 * on probation from another introducer, relayed with the very bytes we verified, is taken unchecked). Entries
 * not admitted are dropped unverified — verifying the mostly-known entries of every answer would
 * dominate discovery's CPU, and verifying a liar's flood of fresh identities would be work in
 * proportion to what it sends. Not under `plan/`: it asks the ledger and runs the signature checks,
 * where `plan/` holds only pure functions.
 */
import { Effect, Either } from "effect"
import type { SignedNodeInfo } from "../../domain/nodeInfo.js"
import type { PeerId } from "../../domain/PeerId.js"
import type { CryptoService } from "../../services/Crypto.js"
import type { PeerManagerService } from "../../services/PeerManager.js"
import { nodeInfoVerifyItem, precheckNodeInfo, type NodeInfoContext, type NodeInfoRejection } from "./plan/nodeInfoRules.js"

/** The verdicts on one answer. */
export interface AnswerVerdict {
  /** The responder's own NodeInfo, if valid and newer than ours. */
  readonly own: SignedNodeInfo | undefined
  /** The relayed NodeInfos that verified (refreshes and admitted introductions). */
  readonly introduced: ReadonlyArray<SignedNodeInfo>
  readonly rejected: ReadonlyArray<NodeInfoRejection>
  /** Relayed entries valid so far but not newer than what we hold: not verified, not stored. */
  readonly skipped: number
  /** Relayed new peers beyond the responder's budget: not verified, not stored. */
  readonly overBudget: number
  /** Signatures checked. */
  readonly verified: number
}

/** Validates `responder`'s answer: its own NodeInfo's bytes and the bytes of the peers it relays. */
export const validateAnswer = (
  crypto: CryptoService,
  manager: PeerManagerService,
  responder: PeerId,
  ownBytes: Uint8Array,
  relayed: ReadonlyArray<Uint8Array>,
  context: Omit<NodeInfoContext, "expectedPeerId">
): Effect.Effect<AnswerVerdict> =>
  Effect.gen(function* () {
    const rejected: Array<NodeInfoRejection> = []
    const ownChecked = precheckNodeInfo(ownBytes, { ...context, expectedPeerId: responder })
    if (Either.isLeft(ownChecked)) rejected.push(ownChecked.left)
    const checked: Array<SignedNodeInfo> = []
    for (const bytes of relayed) {
      const result = precheckNodeInfo(bytes, context)
      if (Either.isLeft(result)) rejected.push(result.left)
      else checked.push(result.right)
    }
    const ownCandidate = Either.isRight(ownChecked) && (yield* manager.newerThanHeld([ownChecked.right]))[0] === true ? ownChecked.right : undefined
    const admissions = checked.length === 0 ? [] : yield* manager.admitIntroductions(responder, checked)
    const candidates = checked.filter((_, i) => admissions[i] === "Refresh" || admissions[i] === "New")
    const toVerify = ownCandidate === undefined ? candidates : [ownCandidate, ...candidates]
    const verdicts = toVerify.length === 0 ? [] : yield* crypto.verifyMany(toVerify.map(nodeInfoVerifyItem))
    // Corroborations carry the very bytes we verified when the peer went on probation: no check again.
    const introduced: Array<SignedNodeInfo> = checked.filter((_, i) => admissions[i] === "Corroborates")
    let own: SignedNodeInfo | undefined
    toVerify.forEach((signed, i) => {
      if (verdicts[i] !== true) rejected.push({ reason: "BadSignature", peerId: signed.info.peerId })
      else if (signed === ownCandidate) own = signed
      else introduced.push(signed)
    })
    return {
      own,
      introduced,
      rejected,
      skipped: admissions.filter((a) => a === "NotNewer").length,
      overBudget: admissions.filter((a) => a === "OverBudget").length,
      verified: toVerify.length
    }
  })
