/**
 * Commits: the consensus output. Commit `i` names the leader and the blocks it commits, and links to
 * commit `i-1` by `previousDigest` (a hash chain; commit 1 links to 32 zero bytes). A commit's digest is
 * Blake2b256 of its BCS bytes (Soma/Mysticeti).
 */
import { Schema } from "effect"
import { boundedVector, decodeBcs, encodeBcs, fixedBytes, struct, u32, u64 } from "./codec.js"
import { blake2b256 } from "./hash.js"
import { MAX_BLOCKS_PER_COMMIT } from "./limits.js"
import { Digest, U32, U64 } from "./primitives.js"
import type { VerifiedBlock } from "./block.js"
import { BLOCK_REF_BYTES, BlockRef, BlockRefBcs, type CommitRef } from "./refs.js"

/** A commit of the consensus sequence. */
export const Commit = Schema.Struct({
  index: U32,
  previousDigest: Digest,
  timestampMs: U64,
  leader: BlockRef,
  blocks: Schema.Array(BlockRef).pipe(Schema.maxItems(MAX_BLOCKS_PER_COMMIT)),
  epoch: U64
})
export type Commit = typeof Commit.Type

/** BCS layout of `Commit`. */
export const CommitBcs = struct("Commit", {
  index: u32,
  previousDigest: fixedBytes(32, "previousDigest"),
  timestampMs: u64,
  leader: BlockRefBcs,
  blocks: boundedVector(BlockRefBcs, MAX_BLOCKS_PER_COMMIT, BLOCK_REF_BYTES, "blocks"),
  epoch: u64
})

/** Canonical bytes of a commit. */
export const encodeCommit = (commit: Commit): Uint8Array => encodeBcs(CommitBcs, commit)

/** Decodes untrusted commit bytes; never throws. */
export const decodeCommit = (bytes: Uint8Array) => decodeBcs(CommitBcs, bytes)

const VerifiedBrand: unique symbol = Symbol.for("soma-p2p/Verified")

/** A commit that is part of a verified range (hash-chained to a certified commit), with bytes and ref. */
export interface VerifiedCommit {
  readonly [VerifiedBrand]: "VerifiedCommit"
  readonly commit: Commit
  readonly bytes: Uint8Array
  readonly ref: CommitRef
}

/** Wraps a commit with its canonical bytes and reference; call only after verification or for our own commits. */
export const markVerifiedCommit = (commit: Commit, bytes: Uint8Array): VerifiedCommit => ({
  [VerifiedBrand]: "VerifiedCommit",
  commit,
  bytes,
  ref: { index: commit.index, digest: blake2b256(bytes) }
})

/**
 * What the executor receives: a commit with exactly the blocks it lists, in the listed order — nothing
 * is re-derived locally (Soma).
 */
export interface CommittedSubDag {
  readonly leader: BlockRef
  readonly blocks: ReadonlyArray<VerifiedBlock>
  readonly timestampMs: number
  readonly commitRef: CommitRef
  readonly previousDigest: Uint8Array
  readonly epoch: number
  /** The commit itself, so the sub-DAG can be stored and re-served without re-encoding. */
  readonly commit: VerifiedCommit
}

/** Builds the sub-DAG of a commit from its verified blocks (which must be exactly the listed ones, in order). */
export const committedSubDag = (commit: VerifiedCommit, blocks: ReadonlyArray<VerifiedBlock>): CommittedSubDag => ({
  leader: commit.commit.leader,
  blocks,
  timestampMs: commit.commit.timestampMs,
  commitRef: commit.ref,
  previousDigest: commit.commit.previousDigest,
  epoch: commit.commit.epoch,
  commit
})

/** The block carrying end-of-epoch data, if this is the last commit of its epoch. */
export const endOfEpochBlock = (subDag: CommittedSubDag): VerifiedBlock | undefined =>
  subDag.blocks.find((b) => b.signed.block.endOfEpoch !== null)

/** Whether this commit closes its epoch (it commits a block carrying `EndOfEpochData`). */
export const isLastCommitOfEpoch = (subDag: CommittedSubDag): boolean => endOfEpochBlock(subDag) !== undefined
