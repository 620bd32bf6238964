/**
 * Blocks of the consensus DAG. A `SignedBlock` is signed by its author's protocol key over
 * `intent(ConsensusBlock) || Blake2b256(bcs(Block))`; its digest (the one a `BlockRef` carries) is
 * Blake2b256 of the whole `bcs(SignedBlock)` (Soma).
 */
import { Schema } from "effect"
import { boundedBytes, boundedVector, decodeBcs, encodeBcs, fixedBytes, option, struct, u32, u64 } from "./codec.js"
import { Committee, CommitteeBcs } from "./committee.js"
import { blake2b256 } from "./hash.js"
import { intentMessage, IntentScope } from "./intent.js"
import {
  MAX_ANCESTORS,
  MAX_COMMIT_VOTES_PER_BLOCK,
  MAX_TRANSACTION_BYTES,
  MAX_TRANSACTIONS_PER_BLOCK
} from "./limits.js"
import { BoundedBytes, Signature, U32, U64 } from "./primitives.js"
import { BLOCK_REF_BYTES, BlockRef, BlockRefBcs, COMMIT_REF_BYTES, CommitRef, CommitRefBcs } from "./refs.js"
import { certificateBcsFields, certificateFields } from "./certificate.js"

/**
 * Carried by a block of the last commit of an epoch: the next committee, certified by a quorum of the
 * current committee's authority keys (signers bitmap + BLS aggregate) over
 * `intent(EpochChange) || digest(nextCommittee)`.
 */
export const EndOfEpochData = Schema.Struct({
  nextEpochStartMs: U64,
  nextCommittee: Committee,
  ...certificateFields
})
export type EndOfEpochData = typeof EndOfEpochData.Type

/** A block: what its author proposes at a round, over ancestors of earlier rounds. */
export const Block = Schema.Struct({
  epoch: U64,
  round: U32,
  author: U32,
  timestampMs: U64,
  ancestors: Schema.Array(BlockRef).pipe(Schema.maxItems(MAX_ANCESTORS)),
  /** Each entry is the BCS bytes of a `CertifiedTransaction`. */
  transactions: Schema.Array(BoundedBytes(MAX_TRANSACTION_BYTES, "transaction")).pipe(Schema.maxItems(MAX_TRANSACTIONS_PER_BLOCK)),
  commitVotes: Schema.Array(CommitRef).pipe(Schema.maxItems(MAX_COMMIT_VOTES_PER_BLOCK)),
  endOfEpoch: Schema.NullOr(EndOfEpochData)
})
export type Block = typeof Block.Type

/** A block with its author's signature. */
export const SignedBlock = Schema.Struct({ block: Block, signature: Signature })
export type SignedBlock = typeof SignedBlock.Type

/** BCS layout of `EndOfEpochData`. */
export const EndOfEpochDataBcs = struct("EndOfEpochData", {
  nextEpochStartMs: u64,
  nextCommittee: CommitteeBcs,
  ...certificateBcsFields
})

/** BCS layout of `Block`. */
export const BlockBcs = struct("Block", {
  epoch: u64,
  round: u32,
  author: u32,
  timestampMs: u64,
  ancestors: boundedVector(BlockRefBcs, MAX_ANCESTORS, BLOCK_REF_BYTES, "ancestors"),
  transactions: boundedVector(boundedBytes(MAX_TRANSACTION_BYTES, "transaction"), MAX_TRANSACTIONS_PER_BLOCK, 1, "transactions"),
  commitVotes: boundedVector(CommitRefBcs, MAX_COMMIT_VOTES_PER_BLOCK, COMMIT_REF_BYTES, "commitVotes"),
  endOfEpoch: option(EndOfEpochDataBcs, "Option<EndOfEpochData>")
})

/** BCS layout of `SignedBlock`. */
export const SignedBlockBcs = struct("SignedBlock", { block: BlockBcs, signature: fixedBytes(64, "signature") })

/** Canonical bytes of a block (what is hashed for signing). */
export const encodeBlock = (block: Block): Uint8Array => encodeBcs(BlockBcs, block)

/** Canonical bytes of a signed block (what travels and what is hashed into its digest). */
export const encodeSignedBlock = (signed: SignedBlock): Uint8Array => encodeBcs(SignedBlockBcs, signed)

/** Decodes untrusted signed-block bytes; never throws. */
export const decodeSignedBlock = (bytes: Uint8Array) => decodeBcs(SignedBlockBcs, bytes)

/** Bytes the author signs: `intent(ConsensusBlock) || Blake2b256(bcs(Block))`. */
export const blockSigningMessage = (block: Block): Uint8Array =>
  intentMessage(IntentScope.ConsensusBlock, blake2b256(encodeBlock(block)))

/**
 * The same signing message from the canonical bytes of a `SignedBlock`, without re-encoding: BCS is a
 * concatenation, so `bcs(Block)` is everything before the 64-byte signature.
 */
export const blockSigningMessageOfBytes = (signedBlockBytes: Uint8Array): Uint8Array =>
  blockSigningMessageOfBlockBytes(signedBlockBytes.subarray(0, signedBlockBytes.length - 64))

/** The signing message of a block from its own canonical bytes `bcs(Block)`. */
export const blockSigningMessageOfBlockBytes = (blockBytes: Uint8Array): Uint8Array =>
  intentMessage(IntentScope.ConsensusBlock, blake2b256(blockBytes))

/**
 * Signs a block once encoded: `sign` gets the signing message, and the signed block's canonical bytes
 * are `bcs(Block) || signature` (BCS is a concatenation), so the block is encoded once.
 */
export const signBlockBytes = (block: Block, sign: (message: Uint8Array) => Uint8Array): { signed: SignedBlock; bytes: Uint8Array } => {
  const blockBytes = encodeBlock(block)
  const signature = sign(blockSigningMessageOfBlockBytes(blockBytes))
  const bytes = new Uint8Array(blockBytes.length + signature.length)
  bytes.set(blockBytes)
  bytes.set(signature, blockBytes.length)
  return { signed: { block, signature }, bytes }
}

/** Bytes an authority signs to endorse the next committee. */
export const epochChangeSigningMessage = (nextCommitteeDigest: Uint8Array): Uint8Array =>
  intentMessage(IntentScope.EpochChange, nextCommitteeDigest)

/**
 * The reference of a signed block whose canonical bytes are `bytes`; pass `digest` when the bytes were
 * already hashed (a block is hashed once).
 */
export const blockRefOf = (block: Block, bytes: Uint8Array, digest: Uint8Array = blake2b256(bytes)): BlockRef => ({
  round: block.round,
  author: block.author,
  digest,
  epoch: block.epoch
})

const VerifiedBrand: unique symbol = Symbol.for("soma-p2p/Verified")

/**
 * A block that passed verification, kept with its canonical bytes and reference so nothing is decoded,
 * hashed or checked twice. Only the verifier and the chain generator (which signs its own blocks) make these.
 */
export interface VerifiedBlock {
  readonly [VerifiedBrand]: "VerifiedBlock"
  readonly signed: SignedBlock
  readonly bytes: Uint8Array
  readonly ref: BlockRef
}

/** Marks a block as verified. Call only after verification (or for blocks we signed ourselves). */
export const markVerifiedBlock = (signed: SignedBlock, bytes: Uint8Array, ref: BlockRef): VerifiedBlock => ({
  [VerifiedBrand]: "VerifiedBlock",
  signed,
  bytes,
  ref
})
