import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, PubSub, Stream } from "effect"
import type { CommittedSubDag } from "../../../src/domain/commit.js"
import { ChainGenerator, type GeneratedCommit } from "../../../src/testkit/chain.js"
import { makeMemoryStore } from "../../../src/layers/store/MemoryStoreLayer.js"
import { commitStream, STORE_READ_MAX_BLOCKS, STORE_READ_MAX_COMMITS } from "../../../src/layers/sync/commitStream.js"
import type { StoreService } from "../../../src/services/Store.js"

// Commits of ≈ 10 blocks: 64 of them (the commit bound of a page) would be ≈ 640 blocks.
const CHAIN: ReadonlyArray<GeneratedCommit> = new ChainGenerator({ seed: 21, validators: 10, commitsPerEpoch: 1_000, transactionsPerBlock: 0 }).take(160)

/** A store that counts the sub-DAGs read from it. */
const counting = (store: StoreService) => {
  const reads: Array<number> = []
  const wrapped: StoreService = {
    ...store,
    commitSubDag: (index) => Effect.tap(store.commitSubDag(index), () => Effect.sync(() => reads.push(index)))
  }
  return { store: wrapped, reads }
}

const write = (store: StoreService, from: number, to: number) =>
  Effect.forEach(
    CHAIN.slice(from - 1, to),
    (c) => store.writeCommits([{ subDag: c.subDag }], { extraBlocks: c.certifierBlocks }),
    { discard: true }
  )

const indices = (subDags: ReadonlyArray<CommittedSubDag>) => subDags.map((s) => s.commitRef.index)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe("commits(fromIndex): bounded memory", () => {
  it.effect("a consumer behind the watermark takes what its subscription holds, not a second copy from the store", () =>
    Effect.gen(function* () {
      const real = yield* makeMemoryStore
      yield* real.putCommittee(CHAIN[0]!.committee)
      const { store, reads } = counting(real)
      const pubsub = yield* PubSub.sliding<CommittedSubDag>(16)
      const consumer = yield* commitStream(store, pubsub, 1).pipe(Stream.take(12), Stream.runCollect, Effect.fork)
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow() // the consumer subscribes and waits
      // Twelve commits stored and published in one go, as a delivery of a range does: by the time the
      // consumer looks, the watermark is past everything it has, and its subscription holds all of it.
      for (const c of CHAIN.slice(0, 12)) {
        yield* store.writeCommits([{ subDag: c.subDag }], { extraBlocks: c.certifierBlocks })
        yield* PubSub.publish(pubsub, c.subDag)
      }
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(consumer))
      expect(indices(seen)).toEqual(range(1, 12))
      expect(reads).toEqual([])
      seen.forEach((subDag, i) => expect(subDag).toBe(CHAIN[i]!.subDag))
    })
  )

  it.effect(`a consumer far behind reads the store in pages of about ${STORE_READ_MAX_BLOCKS} blocks, not ${STORE_READ_MAX_COMMITS} commits`, () =>
    Effect.gen(function* () {
      const store = yield* makeMemoryStore
      yield* store.putCommittee(CHAIN[0]!.committee)
      const pubsub = yield* PubSub.sliding<CommittedSubDag>(16)
      yield* write(store, 1, CHAIN.length)
      const pages = Chunk.toReadonlyArray(
        yield* commitStream(store, pubsub, 1).pipe(
          Stream.chunks,
          Stream.filter(Chunk.isNonEmpty),
          Stream.takeUntil((page) => Chunk.lastNonEmpty(page).commitRef.index === CHAIN.length),
          Stream.runCollect
        )
      ).map(Chunk.toReadonlyArray)
      expect(indices(pages.flat())).toEqual(range(1, CHAIN.length))
      const largestCommit = Math.max(...CHAIN.map((c) => c.subDag.blocks.length))
      for (const page of pages) {
        const blocks = page.reduce((n, s) => n + s.blocks.length, 0)
        // A page stops at the commit that reaches the budget: at most one commit past it.
        expect(blocks - page[page.length - 1]!.blocks.length).toBeLessThan(STORE_READ_MAX_BLOCKS)
        expect(blocks).toBeLessThan(STORE_READ_MAX_BLOCKS + largestCommit)
        expect(page.length).toBeLessThanOrEqual(STORE_READ_MAX_COMMITS)
      }
      // Here the block budget is what ends pages, well before the commit bound.
      expect(Math.max(...pages.map((p) => p.length))).toBeLessThan(STORE_READ_MAX_COMMITS)
      expect(pages.length).toBeGreaterThan(2)
    })
  )

  it.effect("commits that follow a gap in the subscription are read from the store: none is lost or repeated", () =>
    Effect.gen(function* () {
      const real = yield* makeMemoryStore
      yield* real.putCommittee(CHAIN[0]!.committee)
      const { store, reads } = counting(real)
      const pubsub = yield* PubSub.sliding<CommittedSubDag>(4)
      const consumer = yield* commitStream(store, pubsub, 1).pipe(
        Stream.tap(() => Effect.yieldNow()),
        Stream.take(CHAIN.length),
        Stream.runCollect,
        Effect.fork
      )
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
      // Bursts of ten: the sliding subscription keeps the last four of each, so a gap opens every time.
      for (let from = 1; from <= CHAIN.length; from += 10) {
        for (const c of CHAIN.slice(from - 1, from + 9)) {
          yield* store.writeCommits([{ subDag: c.subDag }], { extraBlocks: c.certifierBlocks })
          yield* PubSub.publish(pubsub, c.subDag)
        }
        yield* Effect.yieldNow()
      }
      expect(indices(Chunk.toReadonlyArray(yield* Fiber.join(consumer)))).toEqual(range(1, CHAIN.length))
      // Every commit was read at most once from the store.
      expect(new Set(reads).size).toBe(reads.length)
    })
  )
})
