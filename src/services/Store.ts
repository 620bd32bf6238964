/**
 * The `Store` service: verified blocks, commits, committees per epoch, commit votes, the sync
 * watermarks and a small generic key-value area for the executor (DESIGN.md §2, §6). Every write is one
 * atomic batch that either happens entirely or not at all, and the store refuses any batch that would
 * break its invariants — a gap or a broken hash chain below `highestSyncedCommit`, a commit without its
 * blocks, two committees for one epoch — so that "commit i is visible" always means "commit i, its
 * blocks and everything below it are there". It only ever holds verified data: it takes `Verified*`
 * values and hands them back, rebuilt from the stored canonical bytes, without checking them again.
 *
 * Two layers: `LmdbStoreLayer` (a real node; crash-safe) and `MemoryStoreLayer` (simulation; same
 * semantics, checked by one contract test suite).
 *
 * Writes are not cancellable once handed to the storage: a write whose fiber is interrupted may still
 * have happened — read `watermarks` to know.
 */
import { Context, Data, type Effect, type Option } from "effect"
import type { VerifiedBlock } from "../domain/block.js"
import type { CommittedSubDag, VerifiedCommit } from "../domain/commit.js"
import type { Committee } from "../domain/committee.js"
import type { BlockRef, CommitRef } from "../domain/refs.js"

/** Most entries one scan returns, whatever limit the caller asks for (callers page with `from`). */
export const MAX_SCAN_LIMIT = 10_000

/** Longest executor key, in UTF-8 bytes (LMDB keys are at most 511 bytes; this leaves headroom). */
export const MAX_EXECUTOR_KEY_BYTES = 256

/** Where the store stands. */
export interface Watermarks {
  /** Every commit ≤ this is stored with all its blocks (0: nothing since genesis). */
  readonly highestSyncedCommit: number
  /** Digest of the highest synced commit (of the checkpoint, or 32 zero bytes at genesis): what the next commit must link to. */
  readonly highestSyncedDigest: Uint8Array
  /** The epoch of commit `highestSyncedCommit + 1`; its committee is stored. */
  readonly nextEpoch: number
  /** The lowest commit this node can serve; `highestSyncedCommit + 1` while it has none. */
  readonly lowestAvailableCommit: number
}

/**
 * A trusted starting point (DESIGN.md §6.7): the node syncs only what comes after `commitRef`.
 * Genesis is `{ commitRef: { index: 0, digest: 32 zero bytes }, committee: <epoch 0 committee> }`.
 */
export interface TrustedCheckpoint {
  /** The last commit trusted without syncing it; commit `index + 1` must link to its digest. */
  readonly commitRef: CommitRef
  /** The committee of the epoch of commit `index + 1` (the next epoch's if the checkpoint closes an epoch). */
  readonly committee: Committee
}

/** One commit of a `writeCommits` batch (a `GeneratedCommit` or anything else carrying a sub-DAG). */
export interface CommitWrite {
  readonly subDag: CommittedSubDag
}

/** Options of `writeCommits`. */
export interface WriteCommitsOptions {
  /**
   * Verified blocks that belong to no commit yet, written in the same transaction — typically the
   * certifier blocks of the batch's last commit, so that it can be served with its proof.
   */
  readonly extraBlocks?: ReadonlyArray<VerifiedBlock>
}

/** A stored block's vote for a commit: `voter`'s `commitVotes` name `commit`. */
export interface CommitVote {
  readonly commit: CommitRef
  readonly voter: BlockRef
}

/** One atomic write of the executor: its new watermark with the state changes of the commits up to it. */
export interface ExecutionWrite {
  /** The highest executed commit; never below the stored one, never above `highestSyncedCommit`. */
  readonly watermark: number
  /**
   * The stored watermark this write was computed from. When given, the write is refused
   * (`ExecutorWatermarkMoved`) unless the store holds exactly it — a compare-and-set inside the write's
   * transaction, so two executors on one store can never both record a commit. The executor always
   * sets it; leaving it out (tests, tools) writes over whatever is stored.
   */
  readonly expectedWatermark?: number
  /** Keys set (applied after `deletes`, so a key in both ends up set). */
  readonly puts: ReadonlyArray<readonly [key: string, value: Uint8Array]>
  readonly deletes: ReadonlyArray<string>
}

/** The storage medium failed (I/O, map full, closed environment) or returned bytes that do not decode. */
export class StoreError extends Data.TaggedError("StoreError")<{
  readonly operation: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `store ${this.operation} failed: ${this.detail}`
  }
}

/** Why a write was refused. */
export type InconsistencyReason =
  | "CommitGap" // the first commit is above highestSyncedCommit + 1
  | "CommitAlreadyStored" // the commit is at or below highestSyncedCommit
  | "BrokenHashChain" // previousDigest is not the digest of the commit before it
  | "EpochMismatch" // the commit is not of the expected epoch, or its next committee is not of epoch + 1
  | "UnknownCommittee" // no committee is stored for the commit's epoch
  | "SubDagMismatch" // the sub-DAG's ref or blocks are not the commit's
  | "MissingBlocks" // the commit lists blocks that are neither in the batch nor stored
  | "CommitteeConflict" // a different committee is already stored for that epoch
  | "CheckpointConflict" // the store already started from another point
  | "ExecutorWatermark" // the executor watermark would go backwards or past highestSyncedCommit
  | "ExecutorWatermarkMoved" // the executor watermark is not the one the write was computed from (another executor wrote)
  | "InvalidExecutorKey" // empty, or longer than MAX_EXECUTOR_KEY_BYTES
  | "InvalidArgument" // a negative or fractional index, epoch or limit

/** A write that would break an invariant of the store; nothing of it was written. */
export class StoreInconsistency extends Data.TaggedError("StoreInconsistency")<{
  readonly reason: InconsistencyReason
  readonly detail: string
}> {
  override get message(): string {
    return `store refused the write: ${this.reason} (${this.detail})`
  }
}

/** The Store interface. Reads fail only with `StoreError`; writes also with `StoreInconsistency`. */
export interface StoreService {
  /** Where the store stands. */
  readonly watermarks: Effect.Effect<Watermarks, StoreError>
  /** The stored blocks among `refs` (matched by digest), in the order asked; missing ones are left out. */
  readonly getBlocks: (refs: ReadonlyArray<BlockRef>) => Effect.Effect<ReadonlyArray<VerifiedBlock>, StoreError>
  /**
   * The canonical bytes of the stored blocks among `refs`, in the order asked, missing ones left out:
   * what serving sends, read without decoding (a block is decoded only by those who use its fields).
   */
  readonly getBlockBytes: (refs: ReadonlyArray<BlockRef>) => Effect.Effect<ReadonlyArray<Uint8Array>, StoreError>
  /** The commit at `index`, if stored. */
  readonly getCommit: (index: number) => Effect.Effect<Option.Option<VerifiedCommit>, StoreError>
  /** Stored commits with `from ≤ index ≤ to`, ascending, at most `min(limit, MAX_SCAN_LIMIT)`. */
  readonly scanCommits: (from: number, to: number, limit: number) => Effect.Effect<ReadonlyArray<VerifiedCommit>, StoreError>
  /** The commit at `index` with exactly its listed blocks, in the listed order. */
  readonly commitSubDag: (index: number) => Effect.Effect<Option.Option<CommittedSubDag>, StoreError>
  /** The committee of `epoch`, if known. */
  readonly getCommittee: (epoch: number) => Effect.Effect<Option.Option<Committee>, StoreError>
  /** The index of the commit that closed `epoch`, once it is synced. */
  readonly lastCommitOfEpoch: (epoch: number) => Effect.Effect<Option.Option<number>, StoreError>
  /**
   * Votes of stored blocks for commit `index` (by whatever digest they name; compare it with the
   * commit's), sorted by (voted digest, voter digest), at most `min(limit, MAX_SCAN_LIMIT)`.
   */
  readonly commitVotes: (index: number, limit: number) => Effect.Effect<ReadonlyArray<CommitVote>, StoreError>

  /**
   * Starts an empty store from a trusted checkpoint: watermarks at the checkpoint, its committee
   * stored. Idempotent for the same checkpoint, so a node may call it on every start; refused
   * (`CheckpointConflict`) for another one or when the stored history contradicts it.
   */
  readonly initialise: (checkpoint: TrustedCheckpoint) => Effect.Effect<Watermarks, StoreError | StoreInconsistency>
  /** Stores the committee of its epoch (e.g. epoch 0 at genesis); a no-op if that exact committee is there. */
  readonly putCommittee: (committee: Committee) => Effect.Effect<void, StoreError | StoreInconsistency>
  /** Stores verified blocks that belong to no commit yet (certifier blocks); records their commit votes. */
  readonly writeBlocks: (blocks: ReadonlyArray<VerifiedBlock>) => Effect.Effect<void, StoreError>
  /**
   * One transaction: the commits (which must continue the stored chain: consecutive from
   * `highestSyncedCommit + 1`, hash-linked, of the expected epoch), their blocks and votes, the new
   * `highestSyncedCommit`, and for a commit that closes its epoch the epoch's last commit index and the
   * next committee from its `EndOfEpochData`. Every listed block must be in the batch or already stored.
   */
  readonly writeCommits: (
    batch: ReadonlyArray<CommitWrite>,
    options?: WriteCommitsOptions
  ) => Effect.Effect<Watermarks, StoreError | StoreInconsistency>

  /** The highest commit the executor has recorded as executed (0: none). */
  readonly executorWatermark: Effect.Effect<number, StoreError>
  /** One executor value. */
  readonly executorState: (key: string) => Effect.Effect<Option.Option<Uint8Array>, StoreError>
  /**
   * Executor entries whose key starts with `prefix`, in UTF-8 byte order, after `startAfter` when
   * given (for paging), at most `min(limit, MAX_SCAN_LIMIT)`.
   */
  readonly scanExecutorState: (
    prefix: string,
    limit: number,
    startAfter?: string
  ) => Effect.Effect<ReadonlyArray<readonly [key: string, value: Uint8Array]>, StoreError>
  /** Applies the executor's changes and its new watermark in one transaction. */
  readonly writeExecution: (write: ExecutionWrite) => Effect.Effect<void, StoreError | StoreInconsistency>
}

/** Tag of the `Store` service. */
export class Store extends Context.Tag("soma-p2p/Store")<Store, StoreService>() {}
