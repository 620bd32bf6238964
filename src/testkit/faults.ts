/**
 * Invalid data on demand, each kind made from valid generated data so that exactly one thing is wrong:
 * the verifier, the sync loop and the discovery table must reject each with the right error.
 */
import { Either } from "effect"
import { blockRefOf, blockSigningMessage, encodeSignedBlock, markVerifiedBlock, type Block, type VerifiedBlock } from "../domain/block.js"
import { encodeCommit, type Commit } from "../domain/commit.js"
import { quorumThreshold, stakeOf, type Committee } from "../domain/committee.js"
import { signersBitmap, signersOf } from "../domain/certificate.js"
import { certificateSigningMessage, decodeCertifiedTransaction, encodeCertifiedTransaction, type CertifiedTransaction } from "../domain/transaction.js"
import { nodeInfoSigningMessage, type NodeInfo, type SignedNodeInfo } from "../domain/nodeInfo.js"
import type { ChainGenerator } from "./chain.js"
import type { TestSigner } from "./keys.js"

/** Re-signs a mutated copy of a block with the protocol key of `signerAuthor` (default: its own author). */
export const resignBlock = (
  generator: ChainGenerator,
  original: VerifiedBlock,
  mutate: (block: Block) => Block,
  signerAuthor = original.signed.block.author
): VerifiedBlock => {
  const block = mutate(original.signed.block)
  // A genuine signature over the mutated block: only the named fault differs from a valid block.
  const signature = generator.protocolSigner(block.epoch, signerAuthor).sign(blockSigningMessage(block))
  const signed = { block, signature }
  const bytes = encodeSignedBlock(signed)
  return markVerifiedBlock(signed, bytes, blockRefOf(block, bytes))
}

/** A block whose signature has one bit flipped. */
export const withBadBlockSignature = (original: VerifiedBlock): VerifiedBlock => {
  const signature = original.signed.signature.slice()
  signature[0] = (signature[0] as number) ^ 0x01
  const signed = { block: original.signed.block, signature }
  const bytes = encodeSignedBlock(signed)
  return markVerifiedBlock(signed, bytes, blockRefOf(signed.block, bytes))
}

/**
 * A block that names another committee member as author (with that member's parent first, so the
 * ancestors look right) but is signed by the real author.
 */
export const withWrongAuthor = (generator: ChainGenerator, original: VerifiedBlock, committee: Committee): VerifiedBlock => {
  const realAuthor = original.signed.block.author
  const claimed = (realAuthor + 1) % committee.authorities.length
  return resignBlock(
    generator,
    original,
    (b) => ({
      ...b,
      author: claimed,
      ancestors: [...b.ancestors.filter((a) => a.author === claimed), ...b.ancestors.filter((a) => a.author !== claimed)]
    }),
    realAuthor
  )
}

/** A block whose author index is outside the committee. */
export const withUnknownAuthor = (generator: ChainGenerator, original: VerifiedBlock, committee: Committee): VerifiedBlock =>
  resignBlock(generator, original, (b) => ({ ...b, author: committee.authorities.length }), original.signed.block.author)

/**
 * A second, validly signed block by the same author at the same round with different content: its
 * digest differs, so it can never stand in for the block a commit lists.
 */
export const equivocatingBlock = (generator: ChainGenerator, original: VerifiedBlock): VerifiedBlock =>
  resignBlock(generator, original, (b) => ({ ...b, timestampMs: b.timestampMs + 1 }))

/** Commits (as bytes) whose hash chain is broken at position `at` (its `previousDigest` is altered). */
export const withBrokenHashChain = (commits: ReadonlyArray<Commit>, at: number): Array<Uint8Array> =>
  commits.map((commit, i) => {
    if (i !== at) return encodeCommit(commit)
    const previousDigest = commit.previousDigest.slice()
    previousDigest[0] = (previousDigest[0] as number) ^ 0xff
    return encodeCommit({ ...commit, previousDigest })
  })

/** The largest prefix of certifier blocks whose distinct authors stay *below* quorum. */
export const withMissingVotes = (certifiers: ReadonlyArray<VerifiedBlock>, committee: Committee): Array<VerifiedBlock> => {
  const kept: Array<VerifiedBlock> = []
  for (const block of certifiers) {
    const next = [...kept, block]
    if (stakeOf(committee, next.map((b) => b.signed.block.author)) >= quorumThreshold(committee)) break
    kept.push(block)
  }
  return kept
}

/** Ways a certified transaction can be wrong. */
export type TransactionFault =
  | "BelowQuorum" // signer bits cleared until the stake is below quorum
  | "WrongBitmapLength" // one byte too many in the signers bitmap
  | "SignerPastCommittee" // a signer bit at index n (the committee has n members)
  | "BadAuthoritySignature" // a valid aggregate by the same signers, over another message
  | "InfinitySignature" // the aggregate is the point at infinity
  | "BadSenderSignature" // the sender's signature corrupted
  | "WrongEpoch" // certified for another epoch than the block's

const corrupt = (signature: Uint8Array): Uint8Array => {
  const copy = signature.slice()
  copy[10] = (copy[10] as number) ^ 0x40
  return copy
}

/** The compressed encoding of the G2 point at infinity. */
export const INFINITY_SIGNATURE: Uint8Array = Uint8Array.from({ length: 96 }, (_, i) => (i === 0 ? 0xc0 : 0))

/** A certified transaction with exactly one fault. */
export const faultyTransaction = (
  generator: ChainGenerator,
  tx: CertifiedTransaction,
  committee: Committee,
  fault: TransactionFault
): CertifiedTransaction => {
  const n = committee.authorities.length
  switch (fault) {
    case "BelowQuorum": {
      const kept = signersOf(tx.signers)
      while (kept.length > 0 && stakeOf(committee, kept) >= quorumThreshold(committee)) kept.pop()
      return { ...tx, signers: signersBitmap(kept, n) }
    }
    case "WrongBitmapLength":
      return { ...tx, signers: Uint8Array.from([...tx.signers, 0]) }
    case "SignerPastCommittee": {
      if (n % 8 === 0) throw new RangeError("a committee of a multiple of 8 has no spare bit past n")
      const signers = tx.signers.slice()
      signers[signers.length - 1] = (signers[signers.length - 1] as number) | (1 << n % 8)
      return { ...tx, signers }
    }
    case "BadAuthoritySignature": {
      const otherMessage = certificateSigningMessage(new Uint8Array(32).fill(7), tx.epoch)
      return { ...tx, aggregateSignature: generator.certify(committee, signersOf(tx.signers), otherMessage).aggregateSignature }
    }
    case "InfinitySignature":
      return { ...tx, aggregateSignature: INFINITY_SIGNATURE }
    case "BadSenderSignature":
      return { ...tx, signed: { ...tx.signed, senderSignature: corrupt(tx.signed.senderSignature) } }
    case "WrongEpoch":
      return { ...tx, epoch: tx.epoch + 1 }
  }
}

/** A validly signed block whose first transaction has the given fault. */
export const withUncertifiedTransaction = (
  generator: ChainGenerator,
  original: VerifiedBlock,
  committee: Committee,
  fault: TransactionFault = "BelowQuorum"
): VerifiedBlock =>
  resignBlock(generator, original, (block) => {
    const [first, ...rest] = block.transactions
    if (first === undefined) throw new RangeError("the block carries no transaction to corrupt")
    const tx = Either.getOrThrow(decodeCertifiedTransaction(first))
    return { ...block, transactions: [encodeCertifiedTransaction(faultyTransaction(generator, tx, committee, fault)), ...rest] }
  })

/** A NodeInfo claiming `info.peerId` but signed by another key. */
export const nodeInfoSignedByWrongKey = (info: NodeInfo, wrongSigner: TestSigner): SignedNodeInfo => ({
  info,
  signature: wrongSigner.sign(nodeInfoSigningMessage(info))
})

/** A correctly signed NodeInfo (for the honest side of the same tests). */
export const signNodeInfo = (info: NodeInfo, signer: TestSigner): SignedNodeInfo => ({
  info,
  signature: signer.sign(nodeInfoSigningMessage(info))
})
