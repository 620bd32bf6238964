/**
 * Test helpers for the executor: chains with duplicated transactions, an independent fold over a
 * chain's transactions (the expected state), its digest by the documented layout, a check of a
 * store's executor records against the fold, and a sim node with an executor on top.
 */
import { expect } from "@effect/vitest"
import { Context, Effect, Either, ExecutionStrategy, Exit, Layer, Option, Scope } from "effect"
import type { Block, VerifiedBlock } from "../../../src/domain/block.js"
import { compareBytes, fromHex, toHex, u64LE } from "../../../src/domain/bytes.js"
import { committedSubDag, encodeCommit, markVerifiedCommit, type Commit, type CommittedSubDag } from "../../../src/domain/commit.js"
import { blake2b256Concat } from "../../../src/domain/hash.js"
import { ZERO_DIGEST } from "../../../src/domain/primitives.js"
import { blockRefKey } from "../../../src/domain/refs.js"
import type { ChainGenerator, GeneratedCommit } from "../../../src/testkit/chain.js"
import { SeededRandom } from "../../../src/testkit/rng.js"
import { decodeCertifiedTransaction, transactionDigest } from "../../../src/domain/transaction.js"
import { CommitExecutorLayer } from "../../../src/layers/executor/CommitExecutorLayer.js"
import { decodeEffects, decodeNumber, decodeShared, META, PREFIX } from "../../../src/layers/executor/records.js"
import { computeStateDigest, scanAll } from "../../../src/layers/executor/stateDigest.js"
import { CommitExecutor, type CommitExecutorService, type ExecutorGenesis } from "../../../src/services/CommitExecutor.js"
import { StateSync } from "../../../src/services/StateSync.js"
import { Store, type StoreService } from "../../../src/services/Store.js"
import type { SyncSimNode } from "../sync/syncSim.js"

/**
 * The chain with transactions repeated: into the first block of some commits, copies of transactions
 * from earlier commits and from the commit's own later blocks are appended (the block re-signed, the
 * commit rebuilt and re-linked). Returns the chain and how many copies were added.
 */
export const withDuplicates = (
  generator: ChainGenerator,
  chain: ReadonlyArray<GeneratedCommit>,
  seed: number,
  share = 0.5
): { readonly chain: ReadonlyArray<GeneratedCommit>; readonly copies: number } => {
  const rng = new SeededRandom(seed)
  const out: Array<GeneratedCommit> = []
  let previousDigest = ZERO_DIGEST
  let copies = 0
  for (const generated of chain) {
    const { subDag } = generated
    let blocks: ReadonlyArray<VerifiedBlock> = subDag.blocks
    const first = blocks[0]
    if (first !== undefined && rng.chance(share)) {
      const pool = [...out.flatMap((c) => c.subDag.blocks), ...blocks.slice(1)].flatMap((b) => b.signed.block.transactions)
      const extra = Array.from({ length: Math.min(pool.length, 1 + rng.nextInt(3)) }, () => pool[rng.nextInt(pool.length)] as Uint8Array)
      copies += extra.length
      const block: Block = { ...first.signed.block, transactions: [...first.signed.block.transactions, ...extra] }
      blocks = [generator.signBlock(block), ...blocks.slice(1)]
    }
    const renamed = new Map(subDag.blocks.map((b, i) => [blockRefKey(b.ref), (blocks[i] as VerifiedBlock).ref]))
    const commit: Commit = {
      ...subDag.commit.commit,
      previousDigest,
      leader: renamed.get(blockRefKey(subDag.leader)) ?? subDag.leader,
      blocks: blocks.map((b) => b.ref)
    }
    const verified = markVerifiedCommit(commit, encodeCommit(commit))
    previousDigest = verified.ref.digest
    // The original certifier blocks vote for the original digests; the validator path needs none.
    out.push({ ...generated, subDag: committedSubDag(verified, blocks), certifierBlocks: [] })
  }
  return { chain: out, copies }
}

/** One executed transaction as the fold sees it. */
export interface FoldedTransaction {
  readonly digest: string
  readonly commitIndex: number
  readonly status: "Success" | "InsufficientBalance"
  readonly sharedVersions: ReadonlyArray<{ readonly key: string; readonly version: number }>
}

/** The expected state after a chain. */
export interface Folded {
  /** Non-zero balances by account hex. */
  readonly balances: Map<string, number>
  readonly shared: Map<string, { version: number; value: string }>
  readonly executed: ReadonlyArray<FoldedTransaction>
  readonly duplicates: number
  readonly failed: number
  readonly epoch: number
}

/** The expected state, written directly from the rules: dedup by digest, transfers need funds, writes bump versions. */
export const fold = (genesis: ExecutorGenesis, subDags: ReadonlyArray<CommittedSubDag>): Folded => {
  const balances = new Map<string, number>(genesis.balances.map(([a, amount]) => [toHex(a), amount]))
  const shared = new Map<string, { version: number; value: string }>()
  const seen = new Set<string>()
  const executed: Array<FoldedTransaction> = []
  let duplicates = 0
  let epoch = genesis.committee.epoch
  for (const subDag of subDags) {
    for (const block of subDag.blocks) {
      for (const bytes of block.signed.block.transactions) {
        const tx = Either.getOrThrow(decodeCertifiedTransaction(bytes)).signed.data
        const digest = toHex(transactionDigest(tx))
        if (seen.has(digest)) {
          duplicates += 1
          continue
        }
        seen.add(digest)
        const sender = toHex(tx.sender)
        if (tx.kind._tag === "Transfer") {
          const from = balances.get(sender) ?? 0
          if (from < tx.kind.amount) {
            executed.push({ digest, commitIndex: subDag.commitRef.index, status: "InsufficientBalance", sharedVersions: [] })
            continue
          }
          balances.set(sender, from - tx.kind.amount)
          const to = toHex(tx.kind.recipient)
          balances.set(to, (balances.get(to) ?? 0) + tx.kind.amount)
          executed.push({ digest, commitIndex: subDag.commitRef.index, status: "Success", sharedVersions: [] })
        } else {
          const version = (shared.get(tx.kind.key)?.version ?? 0) + 1
          shared.set(tx.kind.key, { version, value: toHex(tx.kind.value) })
          executed.push({ digest, commitIndex: subDag.commitRef.index, status: "Success", sharedVersions: [{ key: tx.kind.key, version }] })
        }
      }
    }
    if (subDag.blocks.some((b) => b.signed.block.endOfEpoch !== null)) epoch += 1
  }
  for (const [account, amount] of balances) if (amount === 0) balances.delete(account)
  return { balances, shared, executed, duplicates, failed: executed.filter((t) => t.status !== "Success").length, epoch }
}

const utf8 = new TextEncoder()

/** The state digest of a fold, by the layout documented in stateDigest.ts. */
export const foldDigest = (folded: Folded): string => {
  const balances = [...folded.balances].map(([a, n]) => [fromHex(a), n] as const).sort(([a], [b]) => compareBytes(a, b))
  const shared = [...folded.shared].map(([k, v]) => [utf8.encode(k), v] as const).sort(([a], [b]) => compareBytes(a, b))
  const parts: Array<Uint8Array> = [u64LE(balances.length)]
  for (const [account, amount] of balances) parts.push(account, u64LE(amount))
  parts.push(u64LE(shared.length))
  for (const [key, { version, value }] of shared) {
    const bytes = fromHex(value)
    parts.push(u64LE(key.length), key, u64LE(version), u64LE(bytes.length), bytes)
  }
  return toHex(blake2b256Concat(...parts))
}

/** An executor on a sim node, built from `CommitExecutorLayer` in its own child scope. */
export interface RunningExecutor {
  readonly executor: CommitExecutorService
  readonly stop: Effect.Effect<void>
}

/** Starts the executor layer over a node's store and commit stream. */
export const startExecutor = (node: SyncSimNode, genesis: ExecutorGenesis) =>
  Effect.gen(function* () {
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const layer = CommitExecutorLayer({ genesis }).pipe(Layer.provide(Layer.mergeAll(Layer.succeed(Store, node.store), Layer.succeed(StateSync, node.sync))))
    const context = yield* Layer.buildWithScope(layer, scope)
    const running: RunningExecutor = { executor: Context.get(context, CommitExecutor), stop: Scope.close(scope, Exit.void) }
    return running
  })

/**
 * Reads the executor's records straight from a store and checks they are exactly the execution of the
 * first `w` commits (w = the stored watermark): the effects log in order (so a transaction executed
 * twice or skipped shows), the executed-digest set, the counter, balances, shared values, epoch and
 * the state digest. Returns the number of executed transactions.
 */
export const expectStoreHolds = (store: StoreService, genesis: ExecutorGenesis, subDags: ReadonlyArray<CommittedSubDag>) =>
  Effect.gen(function* () {
    const w = yield* store.executorWatermark
    const expected = fold(genesis, subDags.slice(0, w))
    const effects = (yield* scanAll(store, PREFIX.effects)).map(([key, bytes]) => Either.getOrThrow(decodeEffects(key, bytes)))
    expect(effects.map((e) => e.sequence)).toEqual(expected.executed.map((_, i) => i))
    expect(effects.map((e) => ({ digest: toHex(e.digest), commitIndex: e.commitIndex, status: e.status, sharedVersions: e.sharedVersions }))).toEqual(
      expected.executed
    )
    const done = yield* scanAll(store, PREFIX.done)
    expect(done.map(([key]) => key.slice(PREFIX.done.length)).sort()).toEqual(expected.executed.map((t) => t.digest).sort())
    const number = (key: string) => Effect.map(store.executorState(key), Option.map((bytes) => Either.getOrThrow(decodeNumber(key, bytes))))
    expect(yield* number(META.executed)).toEqual(Option.some(expected.executed.length))
    expect(yield* number(META.epoch)).toEqual(Option.some(expected.epoch))
    const balances = (yield* scanAll(store, PREFIX.balance)).map(([key, bytes]) => [key.slice(PREFIX.balance.length), Either.getOrThrow(decodeNumber(key, bytes))] as const)
    expect(new Map(balances)).toEqual(expected.balances)
    const shared = (yield* scanAll(store, PREFIX.shared)).map(([key, bytes]) => {
      const entry = Either.getOrThrow(decodeShared(key, bytes))
      return [key.slice(PREFIX.shared.length), { version: entry.version, value: toHex(entry.value) }] as const
    })
    expect(new Map(shared)).toEqual(expected.shared)
    expect(toHex(yield* computeStateDigest(store))).toBe(foldDigest(expected))
    return { w, executed: expected.executed.length }
  })
