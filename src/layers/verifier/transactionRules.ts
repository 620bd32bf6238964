/**
 * Rules of a certified transaction (DESIGN.md §7) apart from signature checks: it decodes, is certified
 * for the expected epoch, and its signers are distinct committee members with quorum stake. The
 * signatures it needs are returned for the caller's batch.
 */
import { Either } from "effect"
import { authorityAt, reachesQuorum, type Committee } from "../../domain/committee.js"
import { certificateSigningMessage, decodeCertifiedTransaction, senderSigningMessage, transactionDigest } from "../../domain/transaction.js"
import type { VerifyItem } from "../../services/Crypto.js"
import type { TransactionFault } from "../../services/Verifier.js"
import type { RuleViolation } from "./blockRules.js"

/** A signature a transaction needs, and the fault it stands for if it does not verify. */
export interface TransactionSignature {
  readonly item: VerifyItem
  readonly fault: TransactionFault
}

/** The signatures a valid-looking transaction needs, or the rule it breaks. */
export const transactionSignatures = (
  committee: Committee,
  bytes: Uint8Array
): Either.Either<ReadonlyArray<TransactionSignature>, RuleViolation<TransactionFault>> => {
  const decoded = decodeCertifiedTransaction(bytes)
  if (Either.isLeft(decoded)) return Either.left({ fault: "Undecodable", detail: decoded.left.message })
  const tx = decoded.right
  if (tx.epoch !== committee.epoch) return Either.left({ fault: "WrongEpoch", detail: `certified for epoch ${tx.epoch}, block of epoch ${committee.epoch}` })
  const signers = tx.signatures.map((s) => s.authority)
  if (new Set(signers).size !== signers.length) return Either.left({ fault: "DuplicateSigner", detail: "an authority signed the certificate twice" })
  if (signers.some((s) => authorityAt(committee, s) === undefined)) return Either.left({ fault: "UnknownSigner", detail: "a certificate signer is not in the committee" })
  if (!reachesQuorum(committee, signers)) return Either.left({ fault: "BelowQuorum", detail: "certificate signers lack quorum stake" })
  const digest = transactionDigest(tx.signed.data)
  const certificateMessage = certificateSigningMessage(digest, tx.epoch)
  const out: Array<TransactionSignature> = [
    {
      item: { publicKey: tx.signed.data.sender, message: senderSigningMessage(digest), signature: tx.signed.senderSignature },
      fault: "BadSenderSignature"
    }
  ]
  for (const s of tx.signatures) {
    const signer = authorityAt(committee, s.authority)
    if (signer !== undefined)
      out.push({ item: { publicKey: signer.authorityKey, message: certificateMessage, signature: s.signature }, fault: "BadAuthoritySignature" })
  }
  return Either.right(out)
}
