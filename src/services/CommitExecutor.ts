/**
 * The `CommitExecutor` service: the reference executor that stands in for the authority module
 * (DESIGN.md §8). It consumes `StateSync.commits(highestExecuted + 1)`, executes each commit's
 * transactions once (by digest, across commits and restarts) on a small state machine — account
 * balances and one shared, versioned key-value object — and writes effects, state and its watermark in
 * one atomic store write, so that a killed executor resumes exactly where its last write left it.
 */
import { Context, Data, type Effect, type Option, type Scope, type Stream } from "effect"
import type { Committee } from "../domain/committee.js"
import type { StoreError } from "./Store.js"

/** What the executor starts from: the committee of the first epoch it executes and the initial balances. */
export interface ExecutorGenesis {
  /** The committee of the epoch of commit 1 (its epoch is the executor's first epoch). */
  readonly committee: Committee
  /** Initial balances: each account (a 32-byte public key) once; the total must stay ≤ 2^53 − 1. */
  readonly balances: ReadonlyArray<readonly [account: Uint8Array, amount: number]>
}

/** Outcome of one executed transaction. A failed transfer changes no state but is executed (and recorded). */
export type ExecutionStatus = "Success" | "InsufficientBalance"

/** A shared-object key at the version a transaction wrote. */
export interface SharedVersion {
  readonly key: string
  readonly version: number
}

/** The record of one executed transaction. */
export interface TransactionEffects {
  /** Position in the executor's total order of executed transactions (0, 1, 2, …). */
  readonly sequence: number
  readonly digest: Uint8Array
  /** The commit that executed it (its first appearance). */
  readonly commitIndex: number
  readonly status: ExecutionStatus
  /** Shared-object versions this transaction assigned (one per WriteShared). */
  readonly sharedVersions: ReadonlyArray<SharedVersion>
}

/** A shared-object entry: its value and how many writes it has had. */
export interface SharedValue {
  readonly version: number
  readonly value: Uint8Array
}

/** An epoch as the executor recorded it. */
export interface EpochRecord {
  readonly epoch: number
  /** Digest of the epoch's committee (from genesis or the previous epoch's `EndOfEpochData`). */
  readonly committeeDigest: Uint8Array
  /** Index of the epoch's first commit. */
  readonly firstCommit: number
}

/** Published after a commit's write is durable. */
export interface ExecutedCommit {
  readonly index: number
  readonly digest: Uint8Array
  readonly epoch: number
  /** Transactions executed for the first time (failed ones included). */
  readonly executed: number
  /** Of those, the ones that failed (no state change). */
  readonly failed: number
  /** Transactions skipped because they had already been executed. */
  readonly duplicates: number
  /** Transaction bytes that did not decode (skipped; verified blocks never carry any). */
  readonly undecodable: number
  /** When this commit closed its epoch, the epoch that starts after it. */
  readonly newEpoch: number | null
}

/** The canonical state digest at a watermark (what the devnet compares between nodes). */
export interface StateDigest {
  readonly highestExecuted: number
  readonly digest: Uint8Array
}

/** Stored executor bytes that do not decode (a corrupt or foreign store). */
export class ExecutorStateCorrupt extends Data.TaggedError("ExecutorStateCorrupt")<{
  readonly key: string
  readonly detail: string
}> {
  override get message(): string {
    return `executor state under ${this.key} is corrupt: ${this.detail}`
  }
}

/** The genesis is malformed, or the store was started from another genesis. */
export class GenesisMismatch extends Data.TaggedError("GenesisMismatch")<{
  readonly detail: string
}> {
  override get message(): string {
    return `executor genesis: ${this.detail}`
  }
}

/** A commit arrived that does not follow the executed ones (a gap, or an epoch other than the current). */
export class ExecutionOutOfOrder extends Data.TaggedError("ExecutionOutOfOrder")<{
  readonly index: number
  readonly detail: string
}> {
  override get message(): string {
    return `commit ${this.index} cannot be executed now: ${this.detail}`
  }
}

/**
 * Another executor recorded commits in this store after this one read its watermark: two executors run
 * over one store. The store refused this one's write (compare-and-set on the watermark), and this
 * executor stops for good rather than record any commit a second time.
 */
export class ConcurrentExecutor extends Data.TaggedError("ConcurrentExecutor")<{
  /** The watermark this executor had read (and computed its write from). */
  readonly expected: number
  readonly detail: string
}> {
  override get message(): string {
    return `another executor wrote to this store after watermark ${this.expected}; this executor stops (${this.detail})`
  }
}

/** Errors of the executor's reads. */
export type ExecutorReadError = StoreError | ExecutorStateCorrupt

/** Errors of the executor, one union. */
export type CommitExecutorError = ExecutorStateCorrupt | GenesisMismatch | ExecutionOutOfOrder | ConcurrentExecutor

/** The executor handle. Reads see the last durable write (never a half-executed commit). */
export interface CommitExecutorService {
  /** The highest executed commit (0: none). */
  readonly highestExecuted: Effect.Effect<number, StoreError>
  /** The epoch of the next commit to execute. */
  readonly epoch: Effect.Effect<number, ExecutorReadError>
  /** The record of an epoch, once the executor reached it. */
  readonly epochRecord: (epoch: number) => Effect.Effect<Option.Option<EpochRecord>, ExecutorReadError>
  /** An account's balance (0 for an account that has none). */
  readonly balance: (account: Uint8Array) => Effect.Effect<number, ExecutorReadError>
  /** A shared-object entry, if it was ever written. */
  readonly sharedValue: (key: string) => Effect.Effect<Option.Option<SharedValue>, ExecutorReadError>
  /** The effects of a transaction, if it was executed. */
  readonly effects: (txDigest: Uint8Array) => Effect.Effect<Option.Option<TransactionEffects>, ExecutorReadError>
  /** Effects in execution order from `fromSequence`, at most `limit` (capped by the store's scan limit). */
  readonly effectsLog: (fromSequence: number, limit: number) => Effect.Effect<ReadonlyArray<TransactionEffects>, ExecutorReadError>
  /**
   * Blake2b-256 over the canonical state (balances by account, then shared entries by key), taken
   * between two writes so it always matches the returned watermark.
   */
  readonly stateDigest: Effect.Effect<StateDigest, ExecutorReadError>
  /**
   * Subscribes now to executed-commit notifications. The PubSub behind it is sliding: a subscriber
   * more than its capacity behind loses the oldest notifications (the executor never waits for it);
   * the newest is always delivered, and `highestExecuted` is the source of truth.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<ExecutedCommit>, never, Scope.Scope>
  /** Waits until commit `index` is executed. */
  readonly awaitExecuted: (index: number) => Effect.Effect<void, StoreError>
  /** Why this executor stopped for good, once it has: another executor wrote to its store. */
  readonly halted: Effect.Effect<Option.Option<ConcurrentExecutor>>
}

/** Tag of the `CommitExecutor` service. */
export class CommitExecutor extends Context.Tag("soma-p2p/CommitExecutor")<CommitExecutor, CommitExecutorService>() {}
