/**
 * What a peer is charged with for how it answered a GetKnownPeers query, as pure functions: a failed
 * call (a fault or misbehaviour, or nothing when the fault was ours), and the NodeInfos its answer
 * carried that were refused — one charge per kind of offence per answer, since an answer is one act
 * however many bad entries it holds. The ledger (`layers/peers/`) turns charges into penalties and bans.
 */
import type { CallError } from "../../../services/Network.js"
import type { Offence } from "../../../services/PeerManager.js"
import { describeRejection, offenceOf, type NodeInfoRejection } from "./nodeInfoRules.js"

/** The offence a failed call charges the peer with (`undefined`: not its fault). */
export const offenceOfCallError = (error: CallError): Offence | undefined => {
  switch (error._tag) {
    case "DeadlineExceeded":
      return "Timeout"
    case "PeerUnavailable":
    case "RpcRejected": // it refused (busy, banned us, shutting down): a fault, not misbehaviour
      return "Unavailable"
    case "ProtocolViolation":
      return "ProtocolViolation"
    case "RequestTooLarge":
      return undefined // our own request: our problem
  }
}

/** One charge against the sender of an answer. */
export interface AnswerCharge {
  readonly offence: Offence
  readonly detail: string
}

/**
 * The charges for the refused entries of one answer: one per kind of offence, in the order each kind
 * first appears, described by its count and first example. Empty when nothing refused is the sender's fault.
 */
export const chargesOfAnswer = (rejected: ReadonlyArray<NodeInfoRejection>): Array<AnswerCharge> => {
  const byOffence = new Map<Offence, Array<NodeInfoRejection>>()
  for (const rejection of rejected) {
    const offence = offenceOf(rejection)
    if (offence !== undefined) byOffence.set(offence, [...(byOffence.get(offence) ?? []), rejection])
  }
  return [...byOffence].map(([offence, rejections]) => {
    const first = rejections[0]
    return { offence, detail: `${rejections.length} bad NodeInfo(s) in GetKnownPeers, e.g. ${first === undefined ? "?" : describeRejection(first)}` }
  })
}
