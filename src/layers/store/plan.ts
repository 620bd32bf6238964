/**
 * The store's invariants, as pure functions shared by every Store layer: each write is first planned
 * against a synchronous view of the current state (inside the write transaction for LMDB, on the
 * `Ref`'s value for memory) and either refused with a `StoreInconsistency` or turned into a plan that
 * the layer applies without further checks. One planner for both layers is what makes their semantics
 * the same.
 */
import { Either } from "effect"
import type { VerifiedBlock } from "../../domain/block.js"
import { bytesEqual } from "../../domain/bytes.js"
import type { VerifiedCommit } from "../../domain/commit.js"
import { encodeCommittee, type Committee } from "../../domain/committee.js"
import { ZERO_DIGEST } from "../../domain/primitives.js"
import { blockRefKey, showBlockRef, showCommitRef, type BlockRef, type CommitRef } from "../../domain/refs.js"
import {
  MAX_EXECUTOR_KEY_BYTES,
  MAX_SCAN_LIMIT,
  StoreInconsistency,
  type CommitVote,
  type CommitWrite,
  type ExecutionWrite,
  type InconsistencyReason,
  type TrustedCheckpoint
} from "../../services/Store.js"

/** What the next commit must continue: the highest synced commit and the epoch of the one after it. */
export interface Tip {
  readonly index: number
  readonly digest: Uint8Array
  /** Epoch of commit `index + 1`. */
  readonly epoch: number
}

/** The tip of a store that starts at genesis: commit 1 of epoch 0 links to 32 zero bytes. */
export const GENESIS_TIP: Tip = { index: 0, digest: ZERO_DIGEST, epoch: 0 }

/** A recorded checkpoint: its ref and the epoch of the committee that came with it. */
export interface CheckpointRecord {
  readonly commitRef: CommitRef
  readonly epoch: number
}

/** Synchronous reads the planners need, of the state the write will be applied to. */
export interface StoreView {
  readonly tip: () => Tip
  readonly hasBlock: (digest: Uint8Array) => boolean
  readonly getBlock: (digest: Uint8Array) => VerifiedBlock | undefined
  readonly getCommittee: (epoch: number) => Committee | undefined
  readonly commitDigest: (index: number) => Uint8Array | undefined
  readonly checkpoint: () => CheckpointRecord | undefined
  readonly executorWatermark: () => number
}

/** Everything a `writeCommits` batch adds; nothing in it is already stored. */
export interface CommitsPlan {
  readonly commits: ReadonlyArray<VerifiedCommit>
  readonly blocks: ReadonlyArray<VerifiedBlock>
  readonly committees: ReadonlyArray<Committee>
  readonly epochEnds: ReadonlyArray<{ readonly epoch: number; readonly lastCommit: number }>
  readonly tip: Tip
}

/** What `initialise` does: nothing (same checkpoint again), or set the store's starting point. */
export type CheckpointPlan =
  | { readonly _tag: "Unchanged" }
  | { readonly _tag: "Record"; readonly record: CheckpointRecord }
  | {
      readonly _tag: "Start"
      readonly record: CheckpointRecord
      readonly tip: Tip
      readonly lowestAvailable: number
      readonly committee: Committee | undefined
    }

const refuse = (reason: InconsistencyReason, detail: string) => Either.left(new StoreInconsistency({ reason, detail }))

/** Whether two committees are the same (same canonical bytes). */
export const sameCommittee = (a: Committee, b: Committee): boolean => bytesEqual(encodeCommittee(a), encodeCommittee(b))

const sameBlockRef = (a: BlockRef, b: BlockRef): boolean =>
  a.round === b.round && a.author === b.author && a.epoch === b.epoch && bytesEqual(a.digest, b.digest)

/** The commit votes a block carries, as the store records them. */
export const votesOf = (block: VerifiedBlock): ReadonlyArray<CommitVote> =>
  block.signed.block.commitVotes.map((commit) => ({ commit, voter: block.ref }))

/** A scan limit as a count: whole, ≥ 0 and at most `MAX_SCAN_LIMIT`. */
export const clampLimit = (limit: number): number =>
  Number.isFinite(limit) ? Math.max(0, Math.min(MAX_SCAN_LIMIT, Math.floor(limit))) : limit > 0 ? MAX_SCAN_LIMIT : 0

/** Blocks not stored yet, each once. */
export const planBlocks = (view: StoreView, blocks: ReadonlyArray<VerifiedBlock>): ReadonlyArray<VerifiedBlock> => {
  const fresh = new Map<string, VerifiedBlock>()
  for (const block of blocks) {
    const key = blockRefKey(block.ref)
    if (!fresh.has(key) && !view.hasBlock(block.ref.digest)) fresh.set(key, block)
  }
  return [...fresh.values()]
}

/** A committee to store, `undefined` if that exact committee is already there; refused if another one is. */
export const planCommittee = (view: StoreView, committee: Committee): Either.Either<Committee | undefined, StoreInconsistency> => {
  const stored = view.getCommittee(committee.epoch)
  if (stored === undefined) return Either.right(committee)
  return sameCommittee(stored, committee)
    ? Either.right(undefined)
    : refuse("CommitteeConflict", `another committee is stored for epoch ${committee.epoch}`)
}

/**
 * Checks a `writeCommits` batch against the stored chain and plans it. Each commit must be the next
 * one (index, hash link, epoch), its committee known, its sub-DAG made of its own listed blocks, and
 * every listed block in the batch or stored. A commit that commits a block with `EndOfEpochData` closes
 * its epoch: its index is recorded and the next committee installed.
 */
export const planCommits = (
  view: StoreView,
  batch: ReadonlyArray<CommitWrite>,
  extraBlocks: ReadonlyArray<VerifiedBlock>
): Either.Either<CommitsPlan, StoreInconsistency> => {
  const inBatch = new Map<string, VerifiedBlock>()
  for (const { subDag } of batch) for (const block of subDag.blocks) inBatch.set(blockRefKey(block.ref), block)
  for (const block of extraBlocks) inBatch.set(blockRefKey(block.ref), block)

  const plannedCommittees = new Map<number, Committee>()
  const committeeOf = (epoch: number): Committee | undefined => plannedCommittees.get(epoch) ?? view.getCommittee(epoch)
  const commits: Array<VerifiedCommit> = []
  const epochEnds: Array<{ epoch: number; lastCommit: number }> = []
  let tip = view.tip()

  for (const { subDag } of batch) {
    const commit = subDag.commit.commit
    const at = `commit ${commit.index}`
    if (subDag.commitRef.index !== commit.index || !bytesEqual(subDag.commitRef.digest, subDag.commit.ref.digest))
      return refuse("SubDagMismatch", `${at}: sub-DAG ref ${showCommitRef(subDag.commitRef)} is not the commit's`)
    if (commit.index <= tip.index) return refuse("CommitAlreadyStored", `${at}: highest synced commit is ${tip.index}`)
    if (commit.index > tip.index + 1) return refuse("CommitGap", `${at}: expected commit ${tip.index + 1}`)
    if (!bytesEqual(commit.previousDigest, tip.digest))
      return refuse("BrokenHashChain", `${at}: previousDigest is not the digest of commit ${tip.index}`)
    if (commit.epoch !== tip.epoch) return refuse("EpochMismatch", `${at}: of epoch ${commit.epoch}, expected ${tip.epoch}`)
    if (committeeOf(commit.epoch) === undefined) return refuse("UnknownCommittee", `${at}: no committee for epoch ${commit.epoch}`)

    const listed = new Map<string, BlockRef>()
    for (const ref of commit.blocks) listed.set(blockRefKey(ref), ref)
    for (const block of subDag.blocks) {
      const ref = listed.get(blockRefKey(block.ref))
      if (ref === undefined || !sameBlockRef(ref, block.ref))
        return refuse("SubDagMismatch", `${at}: block ${showBlockRef(block.ref)} is not listed by the commit`)
    }
    const missing = commit.blocks.filter((ref) => !inBatch.has(blockRefKey(ref)) && !view.hasBlock(ref.digest))
    if (missing.length > 0)
      return refuse(
        "MissingBlocks",
        `${at}: ${missing.length} listed block(s) neither in the batch nor stored, e.g. ${showBlockRef(missing[0] as BlockRef)}`
      )

    // The same rule as `endOfEpochBlock`: the first listed block carrying end-of-epoch data.
    let epoch = tip.epoch
    for (const ref of commit.blocks) {
      const block = inBatch.get(blockRefKey(ref)) ?? view.getBlock(ref.digest)
      const endOfEpoch = block?.signed.block.endOfEpoch
      if (endOfEpoch === undefined || endOfEpoch === null) continue
      const next = endOfEpoch.nextCommittee
      if (next.epoch !== commit.epoch + 1)
        return refuse("EpochMismatch", `${at}: closes epoch ${commit.epoch} with a committee of epoch ${next.epoch}`)
      const existing = committeeOf(next.epoch)
      if (existing !== undefined && !sameCommittee(existing, next))
        return refuse("CommitteeConflict", `${at}: another committee is stored for epoch ${next.epoch}`)
      if (existing === undefined) plannedCommittees.set(next.epoch, next)
      epochEnds.push({ epoch: commit.epoch, lastCommit: commit.index })
      epoch = next.epoch
      break
    }
    commits.push(subDag.commit)
    tip = { index: commit.index, digest: subDag.commitRef.digest, epoch }
  }

  return Either.right({
    commits,
    blocks: planBlocks(view, [...inBatch.values()]),
    committees: [...plannedCommittees.values()],
    epochEnds,
    tip
  })
}

/**
 * Plans `initialise`. An empty store starts at the checkpoint; the same checkpoint again changes
 * nothing; a store that synced from genesis accepts (and records) a checkpoint on its own history; anything
 * else is a conflict — moving a store to another starting point means a fresh directory.
 */
export const planCheckpoint = (view: StoreView, checkpoint: TrustedCheckpoint): Either.Either<CheckpointPlan, StoreInconsistency> => {
  const { commitRef, committee } = checkpoint
  const record: CheckpointRecord = { commitRef, epoch: committee.epoch }
  if (!Number.isSafeInteger(commitRef.index) || commitRef.index < 0 || commitRef.index > 0xffff_ffff)
    return refuse("InvalidArgument", `checkpoint index ${commitRef.index}`)
  const storedCommittee = view.getCommittee(committee.epoch)
  if (storedCommittee !== undefined && !sameCommittee(storedCommittee, committee))
    return refuse("CheckpointConflict", `another committee is stored for epoch ${committee.epoch}`)

  const recorded = view.checkpoint()
  if (recorded !== undefined) {
    const same =
      recorded.commitRef.index === commitRef.index && bytesEqual(recorded.commitRef.digest, commitRef.digest) && recorded.epoch === committee.epoch
    return same
      ? Either.right({ _tag: "Unchanged" })
      : refuse("CheckpointConflict", `the store started from ${showCommitRef(recorded.commitRef)}, not ${showCommitRef(commitRef)}`)
  }

  const tip = view.tip()
  if (tip.index === 0) {
    return Either.right({
      _tag: "Start",
      record,
      tip: { index: commitRef.index, digest: commitRef.digest, epoch: committee.epoch },
      lowestAvailable: commitRef.index + 1,
      committee: storedCommittee === undefined ? committee : undefined
    })
  }
  // Synced from genesis without a recorded checkpoint: accept one that lies on the stored chain.
  const digest = commitRef.index === 0 ? ZERO_DIGEST : view.commitDigest(commitRef.index)
  if (commitRef.index > tip.index || digest === undefined || !bytesEqual(digest, commitRef.digest) || storedCommittee === undefined)
    return refuse("CheckpointConflict", `${showCommitRef(commitRef)} is not on the stored chain (synced to ${tip.index})`)
  return Either.right({ _tag: "Record", record })
}

const utf8 = new TextEncoder()

/** An executor key as stored: its UTF-8 bytes, refused when empty or too long. */
export const executorKeyBytes = (key: string): Either.Either<Uint8Array, StoreInconsistency> => {
  const bytes = utf8.encode(key)
  return bytes.length === 0 || bytes.length > MAX_EXECUTOR_KEY_BYTES
    ? refuse("InvalidExecutorKey", `executor keys are 1..${MAX_EXECUTOR_KEY_BYTES} UTF-8 bytes, got ${bytes.length}`)
    : Either.right(bytes)
}

/** Checks an executor write: computed from the stored watermark (when it says), keys valid, watermark not backwards and not beyond what is synced. */
export const planExecution = (view: StoreView, write: ExecutionWrite): Either.Either<ExecutionWrite, StoreInconsistency> => {
  const current = view.executorWatermark()
  const synced = view.tip().index
  // Checked first: a write computed from another watermark must never land, even where it would fit.
  if (write.expectedWatermark !== undefined && write.expectedWatermark !== current)
    return refuse("ExecutorWatermarkMoved", `computed from executor watermark ${write.expectedWatermark}, but the store holds ${current}`)
  if (!Number.isSafeInteger(write.watermark) || write.watermark < current || write.watermark > synced)
    return refuse("ExecutorWatermark", `watermark ${write.watermark}: stored ${current}, highest synced ${synced}`)
  for (const key of [...write.deletes, ...write.puts.map(([key]) => key)]) {
    const checked = executorKeyBytes(key)
    if (Either.isLeft(checked)) return Either.left(checked.left)
  }
  return Either.right(write)
}

/** Byte order of UTF-8 strings (= code point order), the order LMDB keeps executor keys in. */
export const compareUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"))
