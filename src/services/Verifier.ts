/**
 * The `Verifier` service: checks blocks, commit ranges and transactions against the committee of their
 * epoch (DESIGN.md §6–§7). Everything a peer sends passes through here before it can reach the store.
 * Cheap checks (decoding, structure, bitmaps, stake) run before any signature; the signatures of a call
 * are then checked in one Ed25519 batch (`Crypto.verifyMany`) and one BLS batch
 * (`Crypto.verifyAggregates`) on the worker pool, side by side.
 */
import { Context, Data, type Effect, type Either } from "effect"
import type { VerifiedBlock } from "../domain/block.js"
import type { VerifiedCommit } from "../domain/commit.js"
import type { Committee } from "../domain/committee.js"
import type { BlockRef, CommitRef } from "../domain/refs.js"

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
  | "WrongBitmapLength" // the signers bitmap is not exactly ⌈n/8⌉ bytes
  | "SignerPastCommittee" // a signer bit at or past the committee size
  | "NoSigner"
  | "BelowQuorum"
  | "InfinitySignature" // the aggregate is the point at infinity
  | "BadAuthoritySignature" // the aggregate does not verify against the signers' keys

/** What was wrong with a committee offered for acceptance (genesis, config, checkpoint, end of epoch). */
export type CommitteeFault =
  | "Malformed" // empty, zero stake, too large, total stake over 2^53
  | "BadProofOfPossession" // an authority key without a valid proof of possession (or not a valid G1 point)

/** A committee cannot be accepted. */
export class CommitteeInvalid extends Data.TaggedError("CommitteeInvalid")<{
  readonly fault: CommitteeFault
  readonly detail: string
  /** For `BadProofOfPossession`: the offending members. */
  readonly authorities?: ReadonlyArray<number>
}> {
  override get message(): string {
    return `invalid committee: ${this.fault} (${this.detail})`
  }
}

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
  | "BadCertifierRefs" // undecodable, too many, an author twice, outside the committee or epoch
  | "InvalidCertifierBlock" // a certifier block that does not verify, was not asked for, or does not vote
  | "MissingCertifier" // a certifier the peer named but did not serve
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

/** One block to verify: its bytes, the ref it was fetched for (if any), and its digest if already hashed. */
export interface BlockToVerify {
  readonly bytes: Uint8Array
  readonly expected?: BlockRef
  /** Blake2b-256 of `bytes`, when the caller already computed it (to match a stream): a block is hashed once. */
  readonly digest?: Uint8Array
}

/** Options of `verifyBlocks`. */
export interface VerifyBlocksOptions {
  /**
   * Check every block's own signature (one Ed25519 each) before any of their transactions, and skip
   * the transactions of blocks whose signature fails: for blocks a peer offers as proof (certifiers),
   * where a forgery must cost one check per block, not one per transaction.
   */
  readonly signaturesFirst?: boolean
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
  /** BCS `BlockRef`s of the blocks the peer says vote for the last commit. */
  readonly certifierRefs: ReadonlyArray<Uint8Array>
}

/**
 * A range whose commits verified and whose certifier refs name a quorum: what remains is to fetch
 * `certifiers` (a minimal quorum subset of the refs, largest stake first) and `verifyCertifiers`.
 */
export interface CheckedCommitRange {
  readonly commits: ReadonlyArray<VerifiedCommit>
  readonly certifiers: ReadonlyArray<BlockRef>
}

export interface VerifierService {
  /**
   * Verifies each block against the committee; the result of block i is at index i. One bad block
   * does not spoil the others (sync refetches only what is missing).
   */
  readonly verifyBlocks: (
    committee: Committee,
    blocks: ReadonlyArray<BlockToVerify>,
    options?: VerifyBlocksOptions
  ) => Effect.Effect<ReadonlyArray<Either.Either<VerifiedBlock, BlockInvalid>>>
  /** Verifies one block. */
  readonly verifyBlock: (committee: Committee, block: BlockToVerify) => Effect.Effect<VerifiedBlock, BlockInvalid>
  /**
   * The first half of a commit range's verification, with no signature check: consecutive indices
   * from `start`, a hash chain (linked to `previousDigest` when given), one epoch (the committee's),
   * and certifier refs — at most one per author, at most the committee size, of the committee's epoch
   * — whose authors carry quorum stake. Gives the commits and the certifiers to fetch.
   */
  readonly checkCommitRange: (
    committee: Committee,
    range: CommitRangeToVerify
  ) => Effect.Effect<CheckedCommitRange, CommitRangeInvalid>
  /**
   * The second half: the fetched certifier blocks are exactly the refs asked for, each votes for
   * `last`, their own signatures verify (checked before any of their transactions), their authors
   * reach quorum, and then they verify fully. Gives the verified certifier blocks.
   */
  readonly verifyCertifiers: (
    committee: Committee,
    last: CommitRef,
    asked: ReadonlyArray<BlockRef>,
    blocks: ReadonlyArray<BlockToVerify>
  ) => Effect.Effect<ReadonlyArray<VerifiedBlock>, CommitRangeInvalid>
  /**
   * Accepts a committee (genesis, config, trusted checkpoint): well formed, and every authority key
   * valid with a valid proof of possession — without which aggregate signatures are open to rogue keys.
   */
  readonly verifyCommittee: (committee: Committee) => Effect.Effect<void, CommitteeInvalid>
}

/** Tag of the `Verifier` service. */
export class Verifier extends Context.Tag("soma-p2p/Verifier")<Verifier, VerifierService>() {}
