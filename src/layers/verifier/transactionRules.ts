/**
 * Rules of a certified transaction (DESIGN.md §7) apart from signature checks: it decodes, is certified
 * for the block's epoch, its signers bitmap has the committee's exact shape, and its signers reach
 * quorum stake — all before any pairing, so a malformed certificate costs nothing but a decode. The
 * two signatures it needs (the sender's Ed25519 and the committee's BLS aggregate) are returned for the
 * caller's batches, with the verified form the executor will use.
 */
import { Either } from "effect"
import { bytesEqual } from "../../domain/bytes.js"
import { signersStake, signersViolation } from "../../domain/certificate.js"
import { quorumThreshold, type Committee } from "../../domain/committee.js"
import {
  certificateSigningMessage,
  decodeCertifiedTransaction,
  senderSigningMessage,
  transactionDigestOfBytes,
  type VerifiedTransaction
} from "../../domain/transaction.js"
import type { AggregateItem, VerifyItem } from "../../services/Crypto.js"
import type { TransactionFault } from "../../services/Verifier.js"
import type { RuleViolation } from "./blockRules.js"
import { blsKeySetOf } from "./committeeKeys.js"

/** The compressed encoding of the G2 point at infinity: never a valid aggregate (refused before pairing). */
const INFINITY_G2 = Uint8Array.from({ length: 96 }, (_, i) => (i === 0 ? 0xc0 : 0))

/** What a well-formed transaction needs checked, and what it becomes once checked. */
export interface PreparedTransaction {
  readonly sender: VerifyItem
  readonly certificate: AggregateItem
  readonly verified: VerifiedTransaction
}

/** The signatures a well-formed transaction needs, or the first rule it breaks. */
export const prepareTransaction = (
  committee: Committee,
  bytes: Uint8Array
): Either.Either<PreparedTransaction, RuleViolation<TransactionFault>> => {
  const decoded = decodeCertifiedTransaction(bytes)
  if (Either.isLeft(decoded)) return Either.left({ fault: "Undecodable", detail: decoded.left.message })
  const tx = decoded.right
  if (tx.epoch !== committee.epoch) return Either.left({ fault: "WrongEpoch", detail: `certified for epoch ${tx.epoch}, block of epoch ${committee.epoch}` })
  const shape = signersViolation(committee, tx.signers)
  if (shape !== null) return Either.left(shape)
  if (signersStake(committee, tx.signers) < quorumThreshold(committee))
    return Either.left({ fault: "BelowQuorum", detail: "certificate signers lack quorum stake" })
  if (bytesEqual(tx.aggregateSignature, INFINITY_G2)) return Either.left({ fault: "InfinitySignature", detail: "the aggregate signature is the point at infinity" })
  const digest = transactionDigestOfBytes(bytes, tx)
  return Either.right({
    sender: { publicKey: tx.signed.data.sender, message: senderSigningMessage(digest), signature: tx.signed.senderSignature },
    certificate: {
      keySet: blsKeySetOf(committee),
      signers: tx.signers,
      message: certificateSigningMessage(digest, tx.epoch),
      signature: tx.aggregateSignature
    },
    verified: { digest, data: tx.signed.data }
  })
}
