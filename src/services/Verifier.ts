/**
 * The `Verifier` service: checks blocks, commit ranges and transactions against the committee of their
 * epoch (DESIGN.md §6–§7). Everything a peer sends passes through here before it can reach the store.
 * All signatures of a call are checked in one `Crypto.verifyMany` batch on the worker pool.
 */
import { Context, Data, type Effect, type Either } from "effect"
import type { VerifiedBlock } from "../domain/block.js"
import type { VerifiedCommit } from "../domain/commit.js"
import type { Committee } from "../domain/committee.js"
import type { BlockRef } from "../domain/refs.js"

/** What was wrong with a block. */
export type BlockFault =
  | "Undecodable" // bytes are not a canonical SignedBlock
  | "WrongEpoch" // the block's epoch is not the committee's
  | "UnknownAuthor" // author index outside the committee
  | "GenesisRound" // round 0 blocks are derived, never fetched
  | "BadSignature" // not signed by the author's protocol key
  | "NoAncestors"
  | "TooManyAncestors" // more ancestors than committee members
  | "OwnParentNotFirst" // the first ancestor must be the author's own earlier block
  | "DuplicateAncestorAuthor"
  | "BadAncestor" // ancestor of another epoch, unknown author, or round not below the block's
  | "FakeGenesisAncestor" // a round-0 ancestor that is not the real genesis ref
  | "ParentsBelowQuorum" // ancestors at round-1 do not carry quorum stake
  | "InvalidEndOfEpoch" // next committee malformed, wrong epoch, or not signed by a quorum
  | "InvalidTransaction" // one of its transactions is invalid (see `transaction`)
  | "RefMismatch" // valid, but not the block that was asked for

/** What was wrong with a certified transaction. */
export type TransactionFault =
  | "Undecodable"
  | "BadSenderSignature"
  | "WrongEpoch" // certified for another epoch than the block's
  | "DuplicateSigner"
  | "UnknownSigner"
  | "BelowQuorum"
  | "BadAuthoritySignature"

/** A block failed verification. */
export class BlockInvalid extends Data.TaggedError("BlockInvalid")<{
  readonly fault: BlockFault
  readonly detail: string
  /** For `InvalidTransaction`: what was wrong with which transaction. */
  readonly transaction?: { readonly index: number; readonly fault: TransactionFault }
}> {
  override get message(): string {
    return `invalid block: ${this.fault} (${this.detail})`
  }
}

/** A certified transaction failed verification. */
export class TransactionInvalid extends Data.TaggedError("TransactionInvalid")<{
  readonly index: number
  readonly fault: TransactionFault
  readonly detail: string
}> {}

/** What was wrong with a commit range. */
export type CommitRangeFault =
  | "Empty"
  | "TooLong" // more commits than asked for
  | "Undecodable"
  | "UnexpectedStart" // first index is not the one asked for
  | "NotConsecutive"
  | "BrokenHashChain" // a previousDigest does not match the previous commit's digest
  | "NotLinked" // the first commit does not link to the commit before the range
  | "WrongEpoch" // a commit of another epoch than the committee's (ranges never span epochs)
  | "InvalidCertifierBlock"
  | "NotEnoughVotes" // certifier votes for the last commit below quorum

/** A commit range failed verification. */
export class CommitRangeInvalid extends Data.TaggedError("CommitRangeInvalid")<{
  readonly fault: CommitRangeFault
  readonly detail: string
}> {
  override get message(): string {
    return `invalid commit range: ${this.fault} (${this.detail})`
  }
}

/** One block to verify: its bytes, and the ref it was fetched for (if any). */
export interface BlockToVerify {
  readonly bytes: Uint8Array
  readonly expected?: BlockRef
}

/** A commit range as a peer served it. */
export interface CommitRangeToVerify {
  /** The index the range must start at. */
  readonly start: number
  /** The most commits acceptable (what was asked for). */
  readonly maxCommits: number
  /** Digest of commit `start - 1` when known (links the range to what we have); 32 zero bytes before commit 1. */
  readonly previousDigest?: Uint8Array
  readonly commits: ReadonlyArray<Uint8Array>
  readonly certifierBlocks: ReadonlyArray<Uint8Array>
}

/** A verified range: its commits in order and the verified certifier blocks of the last one. */
export interface VerifiedCommitRange {
  readonly commits: ReadonlyArray<VerifiedCommit>
  readonly certifierBlocks: ReadonlyArray<VerifiedBlock>
}

export interface VerifierService {
  /**
   * Verifies each block against the committee; the result of block i is at index i. One bad block
   * does not spoil the others (sync refetches only what is missing).
   */
  readonly verifyBlocks: (
    committee: Committee,
    blocks: ReadonlyArray<BlockToVerify>
  ) => Effect.Effect<ReadonlyArray<Either.Either<VerifiedBlock, BlockInvalid>>>
  /** Verifies one block. */
  readonly verifyBlock: (committee: Committee, block: BlockToVerify) => Effect.Effect<VerifiedBlock, BlockInvalid>
  /**
   * Verifies a commit range: consecutive indices from `start`, a hash chain (linked to `previousDigest`
   * when given), one epoch (the committee's), and the last commit certified by verified certifier
   * blocks whose votes from distinct authors reach quorum.
   */
  readonly verifyCommitRange: (
    committee: Committee,
    range: CommitRangeToVerify
  ) => Effect.Effect<VerifiedCommitRange, CommitRangeInvalid>
  /** Verifies certified transactions (BCS bytes) against the committee of their epoch. */
  readonly verifyTransactions: (
    committee: Committee,
    transactions: ReadonlyArray<Uint8Array>
  ) => Effect.Effect<void, TransactionInvalid>
}

/** Tag of the `Verifier` service. */
export class Verifier extends Context.Tag("soma-p2p/Verifier")<Verifier, VerifierService>() {}
