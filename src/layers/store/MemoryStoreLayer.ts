/**
 * An in-memory Store for simulations and tests. The whole state is one immutable value in a `Ref`
 * (persistent `HashMap`s and a `RedBlackTree`), and every write is `Ref.modify` with a pure function
 * of the old state: a refused batch returns the old state untouched, so atomicity is structural. The
 * checks are the shared planners of `plan.ts`, the same as LMDB's.
 */
import { Effect, Either, HashMap, Layer, Option, Order, RedBlackTree, Ref } from "effect"
import type { VerifiedBlock } from "../../domain/block.js"
import { toHex } from "../../domain/bytes.js"
import type { VerifiedCommit } from "../../domain/commit.js"
import type { Committee } from "../../domain/committee.js"
import { blockRefKey } from "../../domain/refs.js"
import { Store, type CommitVote, type StoreInconsistency, type StoreService, type Watermarks } from "../../services/Store.js"
import { assembleSubDag } from "./assemble.js"
import {
  clampLimit,
  compareUtf8,
  GENESIS_TIP,
  planBlocks,
  planCheckpoint,
  planCommits,
  planCommittee,
  planExecution,
  votesOf,
  type CheckpointRecord,
  type StoreView,
  type Tip
} from "./plan.js"

interface MemoryState {
  readonly blocks: HashMap.HashMap<string, VerifiedBlock>
  readonly commits: HashMap.HashMap<number, VerifiedCommit>
  readonly committees: HashMap.HashMap<number, Committee>
  readonly epochEnds: HashMap.HashMap<number, number>
  /** Commit index → (voted digest hex + voter digest hex, the order LMDB keys give) → vote. */
  readonly votes: HashMap.HashMap<number, HashMap.HashMap<string, CommitVote>>
  readonly tip: Tip
  readonly lowestAvailable: number
  readonly checkpoint: CheckpointRecord | undefined
  readonly executorWatermark: number
  readonly executor: RedBlackTree.RedBlackTree<string, Uint8Array>
}

const utf8Order: Order.Order<string> = (a, b) => {
  const c = compareUtf8(a, b)
  return c < 0 ? -1 : c > 0 ? 1 : 0
}

const emptyState: MemoryState = {
  blocks: HashMap.empty(),
  commits: HashMap.empty(),
  committees: HashMap.empty(),
  epochEnds: HashMap.empty(),
  votes: HashMap.empty(),
  tip: GENESIS_TIP,
  lowestAvailable: 1,
  checkpoint: undefined,
  executorWatermark: 0,
  executor: RedBlackTree.empty(utf8Order)
}

const viewOf = (state: MemoryState): StoreView => ({
  tip: () => state.tip,
  hasBlock: (digest) => HashMap.has(state.blocks, toHex(digest)),
  getBlock: (digest) => Option.getOrUndefined(HashMap.get(state.blocks, toHex(digest))),
  getCommittee: (epoch) => Option.getOrUndefined(HashMap.get(state.committees, epoch)),
  commitDigest: (index) => Option.getOrUndefined(HashMap.get(state.commits, index))?.ref.digest,
  checkpoint: () => state.checkpoint,
  executorWatermark: () => state.executorWatermark
})

const watermarksOf = (state: MemoryState): Watermarks => ({
  highestSyncedCommit: state.tip.index,
  highestSyncedDigest: state.tip.digest,
  nextEpoch: state.tip.epoch,
  lowestAvailableCommit: state.lowestAvailable
})

const withBlocks = (state: MemoryState, blocks: ReadonlyArray<VerifiedBlock>): MemoryState => {
  let stored = state.blocks
  let votes = state.votes
  for (const block of blocks) {
    stored = HashMap.set(stored, blockRefKey(block.ref), block)
    for (const vote of votesOf(block)) {
      const forCommit = Option.getOrElse(HashMap.get(votes, vote.commit.index), () => HashMap.empty<string, CommitVote>())
      votes = HashMap.set(votes, vote.commit.index, HashMap.set(forCommit, toHex(vote.commit.digest) + toHex(vote.voter.digest), vote))
    }
  }
  return { ...state, blocks: stored, votes }
}

const withCommittees = (state: MemoryState, committees: ReadonlyArray<Committee>): MemoryState => ({
  ...state,
  committees: committees.reduce((map, c) => HashMap.set(map, c.epoch, c), state.committees)
})

/**
 * Runs a planned write on the state: `plan` sees the current state and either refuses (state unchanged)
 * or returns the result and the new state.
 */
const transact = <A>(
  ref: Ref.Ref<MemoryState>,
  plan: (state: MemoryState) => Either.Either<readonly [A, MemoryState], StoreInconsistency>
): Effect.Effect<A, StoreInconsistency> =>
  Ref.modify(ref, (state): readonly [Either.Either<A, StoreInconsistency>, MemoryState] => {
    const planned = plan(state)
    return Either.isLeft(planned) ? [Either.left(planned.left), state] : [Either.right(planned.right[0]), planned.right[1]]
  }).pipe(Effect.flatMap((result) => result))

/** A fresh, empty in-memory Store (at genesis). */
export const makeMemoryStore: Effect.Effect<StoreService> = Effect.map(Ref.make(emptyState), (ref): StoreService => {
  const read = <A>(f: (state: MemoryState) => A) => Effect.map(Ref.get(ref), f)
  const getBlocks = (state: MemoryState, refs: ReadonlyArray<{ readonly digest: Uint8Array }>) =>
    refs.flatMap((r) => Option.toArray(HashMap.get(state.blocks, toHex(r.digest))))

  return {
    watermarks: read(watermarksOf),
    getBlocks: (refs) => read((state) => getBlocks(state, refs)),
    getBlockBytes: (refs) => read((state) => getBlocks(state, refs).map((b) => b.bytes)),
    getCommit: (index) => read((state) => HashMap.get(state.commits, index)),
    scanCommits: (from, to, limit) =>
      read((state) => {
        const out: Array<VerifiedCommit> = []
        // Commits are contiguous from lowestAvailable to the tip, so the range is walked by index.
        const last = Math.min(to, state.tip.index)
        for (let i = Math.max(Math.ceil(from), state.lowestAvailable, 1); i <= last && out.length < clampLimit(limit); i++) {
          const commit = HashMap.get(state.commits, i)
          if (Option.isSome(commit)) out.push(commit.value)
        }
        return out
      }),
    commitSubDag: (index) =>
      Effect.flatMap(Ref.get(ref), (state) =>
        Option.match(HashMap.get(state.commits, index), {
          onNone: () => Effect.succeedNone,
          onSome: (commit) => Effect.map(assembleSubDag(commit, getBlocks(state, commit.commit.blocks)), Option.some)
        })
      ),
    getCommittee: (epoch) => read((state) => HashMap.get(state.committees, epoch)),
    lastCommitOfEpoch: (epoch) => read((state) => HashMap.get(state.epochEnds, epoch)),
    commitVotes: (index, limit) =>
      read((state) =>
        Option.match(HashMap.get(state.votes, index), {
          onNone: () => [],
          onSome: (votes) =>
            [...HashMap.entries(votes)]
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .slice(0, clampLimit(limit))
              .map(([, vote]) => vote)
        })
      ),

    initialise: (checkpoint) =>
      transact(ref, (state) =>
        Either.map(planCheckpoint(viewOf(state), checkpoint), (plan) => {
          const next: MemoryState =
            plan._tag === "Unchanged"
              ? state
              : plan._tag === "Record"
                ? { ...state, checkpoint: plan.record }
                : {
                    ...withCommittees(state, plan.committee === undefined ? [] : [plan.committee]),
                    checkpoint: plan.record,
                    tip: plan.tip,
                    lowestAvailable: plan.lowestAvailable
                  }
          return [watermarksOf(next), next] as const
        })
      ),
    putCommittee: (committee) =>
      transact(ref, (state) =>
        Either.map(planCommittee(viewOf(state), committee), (fresh) => [undefined, withCommittees(state, fresh === undefined ? [] : [fresh])] as const)
      ),
    writeBlocks: (blocks) => Ref.update(ref, (state) => withBlocks(state, planBlocks(viewOf(state), blocks))),
    writeCommits: (batch, options) =>
      transact(ref, (state) =>
        Either.map(planCommits(viewOf(state), batch, options?.extraBlocks ?? []), (plan) => {
          const withData = withCommittees(withBlocks(state, plan.blocks), plan.committees)
          const next: MemoryState = {
            ...withData,
            commits: plan.commits.reduce((map, c) => HashMap.set(map, c.commit.index, c), withData.commits),
            epochEnds: plan.epochEnds.reduce((map, e) => HashMap.set(map, e.epoch, e.lastCommit), withData.epochEnds),
            tip: plan.tip
          }
          return [watermarksOf(next), next] as const
        })
      ),

    executorWatermark: read((state) => state.executorWatermark),
    executorState: (key) => read((state) => Option.map(RedBlackTree.findFirst(state.executor, key), (v) => v.slice())),
    scanExecutorState: (prefix, limit, startAfter) =>
      read((state) => {
        const out: Array<readonly [string, Uint8Array]> = []
        const max = clampLimit(limit)
        const start = startAfter !== undefined && compareUtf8(startAfter, prefix) >= 0 ? startAfter : prefix
        for (const [key, value] of RedBlackTree.greaterThanEqual(state.executor, start)) {
          if (out.length >= max || !key.startsWith(prefix)) break
          if (key === startAfter) continue
          out.push([key, value.slice()])
        }
        return out
      }),
    writeExecution: (write) =>
      transact(ref, (state) =>
        Either.map(planExecution(viewOf(state), write), ({ watermark, puts, deletes }) => {
          let executor = state.executor
          for (const key of deletes) executor = RedBlackTree.removeFirst(executor, key)
          for (const [key, value] of puts) executor = RedBlackTree.insert(RedBlackTree.removeFirst(executor, key), key, value.slice())
          return [undefined, { ...state, executor, executorWatermark: watermark }] as const
        })
      )
  }
})

/** The in-memory Store as a layer (a fresh, empty store per build). */
export const MemoryStoreLayer: Layer.Layer<Store> = Layer.effect(Store, makeMemoryStore)
