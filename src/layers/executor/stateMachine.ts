/**
 * The executor's state machine as pure functions: extract a commit's transactions, then execute a
 * batch of commits against a snapshot of the stored values it needs, producing the one write that
 * records them (effects, state changes, executed digests, epoch changes). Nothing here does I/O, so
 * the same inputs always give the same write — which is what makes a restart from the watermark exact.
 *
 * Rules (in commit order, blocks in the commit's order, transactions in block order):
 * - a transaction whose digest was executed before (in an earlier commit, batch or run) is skipped;
 * - `Transfer` moves `amount` from sender to recipient, or fails with `InsufficientBalance` (recorded,
 *   no state change); a balance that reaches 0 is deleted, so equal states have equal keys;
 * - `WriteShared` assigns the key its next version (1 for the first write) and stores the value;
 * - after the last commit of an epoch, the next epoch and its committee digest are recorded.
 */
import { Either } from "effect"
import { endOfEpochBlock, type CommittedSubDag } from "../../domain/commit.js"
import { committeeDigest } from "../../domain/committee.js"
import type { TransactionData } from "../../domain/transaction.js"
import { verifiedTransactionsOf } from "../../domain/verifiedTransactions.js"
import {
  ExecutionOutOfOrder,
  ExecutorStateCorrupt,
  type ExecutedCommit,
  type ExecutionStatus,
  type SharedVersion
} from "../../services/CommitExecutor.js"
import {
  balanceKey,
  decodeNumber,
  decodeShared,
  doneKey,
  encodeEffects,
  encodeEpochRecord,
  encodeNumber,
  encodeShared,
  effectsKey,
  epochKey,
  META,
  sharedKey
} from "./records.js"

/** A decoded transaction with its digest. */
export interface ExtractedTransaction {
  readonly digest: Uint8Array
  readonly data: TransactionData
}

/** What execution needs of a commit. */
export interface ExtractedCommit {
  readonly index: number
  readonly digest: Uint8Array
  readonly epoch: number
  /** Every transaction of its blocks, in order, duplicates included. */
  readonly transactions: ReadonlyArray<ExtractedTransaction>
  readonly undecodable: number
  /** When the commit closes its epoch: the digest of the next committee. */
  readonly nextCommitteeDigest: Uint8Array | null
}

/**
 * The transactions of a commit's blocks, in the commit's block order: as the verifier decoded and
 * hashed them when the blocks arrived through sync, decoded here only for blocks read from the store.
 */
export const extractCommit = (subDag: CommittedSubDag): ExtractedCommit => {
  const transactions: Array<ExtractedTransaction> = []
  let undecodable = 0
  for (const block of subDag.blocks) {
    const verified = verifiedTransactionsOf(block)
    transactions.push(...verified.transactions)
    undecodable += verified.undecodable
  }
  const closing = endOfEpochBlock(subDag)?.signed.block.endOfEpoch ?? null
  return {
    index: subDag.commitRef.index,
    digest: subDag.commitRef.digest,
    epoch: subDag.epoch,
    transactions,
    undecodable,
    nextCommitteeDigest: closing === null ? null : committeeDigest(closing.nextCommittee)
  }
}

/** The stored keys a batch reads: meta, executed digests, and every balance and shared entry it may touch. */
export const keysToRead = (commits: ReadonlyArray<ExtractedCommit>): ReadonlyArray<string> => {
  const keys = new Set<string>([META.epoch, META.executed])
  for (const commit of commits) {
    for (const { digest, data } of commit.transactions) {
      keys.add(doneKey(digest))
      keys.add(balanceKey(data.sender))
      if (data.kind._tag === "Transfer") keys.add(balanceKey(data.kind.recipient))
      else keys.add(sharedKey(data.kind.key))
    }
  }
  return [...keys]
}

/** The write of a batch and what to announce once it is durable. */
export interface BatchPlan {
  readonly puts: ReadonlyArray<readonly [key: string, value: Uint8Array]>
  readonly deletes: ReadonlyArray<string>
  readonly executed: ReadonlyArray<ExecutedCommit>
}

/** Carries a typed error out of the imperative body; never escapes `executeBatch`. */
class Abort {
  constructor(readonly error: ExecutorStateCorrupt | ExecutionOutOfOrder) {}
}

const orAbort = <A>(result: Either.Either<A, ExecutorStateCorrupt>): A => {
  if (Either.isLeft(result)) throw new Abort(result.left)
  return result.right
}

/** Stored values overlaid with the batch's pending changes (`null`: deleted). */
class Overlay {
  private readonly changes = new Map<string, Uint8Array | null>()
  constructor(private readonly stored: (key: string) => Uint8Array | undefined) {}

  get(key: string): Uint8Array | undefined {
    const changed = this.changes.get(key)
    return changed === undefined ? this.stored(key) : (changed ?? undefined)
  }
  set(key: string, value: Uint8Array): void {
    this.changes.set(key, value)
  }
  delete(key: string): void {
    this.changes.set(key, null)
  }
  number(key: string, absent: number): number {
    const bytes = this.get(key)
    return bytes === undefined ? absent : orAbort(decodeNumber(key, bytes))
  }
  balance(account: Uint8Array): number {
    return this.number(balanceKey(account), 0)
  }
  setBalance(account: Uint8Array, amount: number): void {
    if (amount === 0) this.delete(balanceKey(account))
    else this.set(balanceKey(account), encodeNumber(amount))
  }
  write(): Pick<BatchPlan, "puts" | "deletes"> {
    const puts: Array<readonly [string, Uint8Array]> = []
    const deletes: Array<string> = []
    for (const [key, value] of this.changes) {
      if (value === null) deletes.push(key)
      else puts.push([key, value])
    }
    return { puts, deletes }
  }
}

/** Applies one new transaction; returns its status and the shared versions it assigned. */
const apply = (state: Overlay, data: TransactionData): { status: ExecutionStatus; sharedVersions: ReadonlyArray<SharedVersion> } => {
  const { kind } = data
  if (kind._tag === "Transfer") {
    const from = state.balance(data.sender)
    if (kind.amount > from) return { status: "InsufficientBalance", sharedVersions: [] }
    state.setBalance(data.sender, from - kind.amount)
    // Read after the debit: a transfer to oneself nets to nothing. No overflow: supply is conserved
    // and the genesis total is checked to be a safe integer.
    state.setBalance(kind.recipient, state.balance(kind.recipient) + kind.amount)
    return { status: "Success", sharedVersions: [] }
  }
  const key = sharedKey(kind.key)
  const stored = state.get(key)
  const version = (stored === undefined ? 0 : orAbort(decodeShared(key, stored)).version) + 1
  state.set(key, encodeShared({ version, value: kind.value }))
  return { status: "Success", sharedVersions: [{ key: kind.key, version }] }
}

/**
 * Executes `commits` (consecutive, the first one right after the stored watermark) against the stored
 * values `stored` returns — which must cover `keysToRead(commits)`.
 */
export const executeBatch = (
  stored: (key: string) => Uint8Array | undefined,
  commits: ReadonlyArray<ExtractedCommit>
): Either.Either<BatchPlan, ExecutorStateCorrupt | ExecutionOutOfOrder> => {
  try {
    const state = new Overlay(stored)
    let sequence = state.number(META.executed, 0)
    let epoch = state.number(META.epoch, 0)
    const executed: Array<ExecutedCommit> = []
    for (const commit of commits) {
      if (commit.epoch !== epoch)
        throw new Abort(new ExecutionOutOfOrder({ index: commit.index, detail: `commit of epoch ${commit.epoch}, executor at epoch ${epoch}` }))
      let fresh = 0
      let failed = 0
      for (const { digest, data } of commit.transactions) {
        const done = doneKey(digest)
        if (state.get(done) !== undefined) continue
        const { status, sharedVersions } = apply(state, data)
        state.set(effectsKey(sequence), encodeEffects({ sequence, digest, commitIndex: commit.index, status, sharedVersions }))
        state.set(done, encodeNumber(sequence))
        sequence += 1
        fresh += 1
        if (status !== "Success") failed += 1
      }
      let newEpoch: number | null = null
      if (commit.nextCommitteeDigest !== null) {
        newEpoch = epoch + 1
        state.set(epochKey(newEpoch), encodeEpochRecord({ epoch: newEpoch, committeeDigest: commit.nextCommitteeDigest, firstCommit: commit.index + 1 }))
        state.set(META.epoch, encodeNumber(newEpoch))
        epoch = newEpoch
      }
      executed.push({
        index: commit.index,
        digest: commit.digest,
        epoch: commit.epoch,
        executed: fresh,
        failed,
        duplicates: commit.transactions.length - fresh,
        undecodable: commit.undecodable,
        newEpoch
      })
    }
    state.set(META.executed, encodeNumber(sequence))
    return Either.right({ ...state.write(), executed })
  } catch (error) {
    if (error instanceof Abort) return Either.left(error.error)
    throw error
  }
}
