/**
 * Two executors over one store (a misconfigured node, or a layer built twice): each reads the same
 * watermark and executes the same commits, and the writes are held until both are ready, so that both
 * try to record them. The watermark's compare-and-set lets exactly one record each commit; the other
 * executor stops with `ConcurrentExecutor` instead of recording it a second time. The state is the
 * independent fold of the chain. Run over both stores: each must do the check inside its write.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Option, Ref, Schedule, Stream, type Scope } from "effect"
import { toHex } from "../../../src/domain/bytes.js"
import { makeCommitExecutor } from "../../../src/layers/executor/CommitExecutorLayer.js"
import { makeLmdbStore } from "../../../src/layers/store/LmdbStoreLayer.js"
import { makeMemoryStore } from "../../../src/layers/store/MemoryStoreLayer.js"
import { ChainGenerator } from "../../../src/testkit/chain.js"
import { genesisFromChain } from "../../../src/testkit/executorGenesis.js"
import type { CommitExecutorService } from "../../../src/services/CommitExecutor.js"
import { StateSync, type StateSyncService } from "../../../src/services/StateSync.js"
import { Store, type StoreError, type StoreService } from "../../../src/services/Store.js"
import { fold, foldDigest } from "./fixtures.js"

const GENERATOR = new ChainGenerator({ seed: 71, validators: 4, commitsPerEpoch: 5, transactionsPerBlock: 2, accounts: 5 })
const CHAIN = GENERATOR.take(12)
const SUBDAGS = CHAIN.map((c) => c.subDag)
const GENESIS = genesisFromChain(GENERATOR, 300)

const root = mkdtempSync(join(tmpdir(), "soma-two-executors-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** Commits from the store's chain, as sync would hand them over (the executor needs nothing else). */
const chainSync: StateSyncService = {
  commits: (from) => Stream.fromIterable(SUBDAGS.slice(Math.max(0, from - 1))),
  status: Effect.die("not used"),
  sendCommit: () => Effect.die("not used"),
  recordVotes: () => Effect.die("not used")
}

/** The store, with every execution write past genesis held until `open` completes. */
const heldStore = (store: StoreService, open: Deferred.Deferred<void>): StoreService => ({
  ...store,
  writeExecution: (write) => (write.watermark === 0 ? store.writeExecution(write) : Effect.zipRight(Deferred.await(open), store.writeExecution(write)))
})

/** Counts, per commit index, the executed-commit notifications of an executor (one per recorded commit). */
const countRecords = (executor: CommitExecutorService, counts: Ref.Ref<Map<number, number>>) =>
  Effect.gen(function* () {
    const stream = yield* executor.subscribe
    yield* stream.pipe(
      Stream.runForEach((executed) => Ref.update(counts, (m) => new Map(m).set(executed.index, (m.get(executed.index) ?? 0) + 1))),
      Effect.forkScoped
    )
  })

const twoExecutors = (makeStore: Effect.Effect<StoreService, StoreError, Scope.Scope>) =>
  Effect.gen(function* () {
    const store = yield* makeStore
    yield* store.putCommittee(CHAIN[0]!.committee)
    yield* store.writeCommits(CHAIN)
    const open = yield* Deferred.make<void>()
    const counts = yield* Ref.make(new Map<number, number>())
    const start = (label: string) =>
      Effect.gen(function* () {
        const executor = yield* makeCommitExecutor({ genesis: GENESIS }).pipe(
          Effect.provideService(Store, heldStore(store, open)),
          Effect.provideService(StateSync, chainSync),
          Effect.annotateLogs("executor", label)
        )
        yield* countRecords(executor, counts)
        return executor
      })
    const a = yield* start("a")
    const b = yield* start("b")
    // Both have read watermark 0 and wait with the same commits executed; let their writes go.
    yield* Effect.sleep("50 millis")
    yield* Deferred.succeed(open, undefined)

    yield* Effect.repeat(store.executorWatermark, { until: (w) => w >= SUBDAGS.length, schedule: Schedule.spaced("10 millis") }).pipe(
      Effect.timeout("10 seconds")
    )
    yield* Effect.sleep("100 millis") // both writes have been answered; let notifications reach the counters

    const recorded = yield* Ref.get(counts)
    expect([...recorded.entries()].sort(([x], [y]) => x - y)).toEqual(SUBDAGS.map((_, i) => [i + 1, 1]))
    const halted = [Option.isSome(yield* a.halted), Option.isSome(yield* b.halted)]
    expect(halted.filter(Boolean)).toHaveLength(1)
    const survivor = halted[0] === true ? b : a
    expect(yield* store.executorWatermark).toBe(SUBDAGS.length)
    expect(toHex((yield* survivor.stateDigest).digest)).toBe(foldDigest(fold(GENESIS, SUBDAGS)))
  })

describe("two executors on one store", () => {
  it.live("memory store: no commit is recorded twice; one executor stops", () => Effect.scoped(twoExecutors(makeMemoryStore)))
  it.live("LMDB store: no commit is recorded twice; one executor stops", () => Effect.scoped(twoExecutors(makeLmdbStore(join(root, "store")))))
})
