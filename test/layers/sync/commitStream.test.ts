import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, PubSub, Stream } from "effect"
import type { CommittedSubDag } from "../../../src/domain/commit.js"
import { ChainGenerator, type GeneratedCommit } from "../../../src/testkit/chain.js"
import { makeMemoryStore } from "../../../src/layers/store/MemoryStoreLayer.js"
import { commitStream } from "../../../src/layers/sync/commitStream.js"
import type { StoreService } from "../../../src/services/Store.js"

const CHAIN: ReadonlyArray<GeneratedCommit> = new ChainGenerator({ seed: 8, validators: 4, commitsPerEpoch: 50, transactionsPerBlock: 0 }).take(2_500)

/** Writes commits one by one and publishes each after it is stored, as the sync loop does. */
const produce = (store: StoreService, pubsub: PubSub.PubSub<CommittedSubDag>, from: number, to: number) =>
  Effect.gen(function* () {
    for (let i = from; i <= to; i++) {
      const c = CHAIN[i - 1]!
      yield* store.writeCommits([{ subDag: c.subDag }], { extraBlocks: c.certifierBlocks })
      yield* PubSub.publish(pubsub, c.subDag)
      if (i % 50 === 0) yield* Effect.yieldNow()
    }
  })

const indices = (chunk: Chunk.Chunk<CommittedSubDag>) => Chunk.toReadonlyArray(chunk).map((s) => s.commitRef.index)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe("commits(fromIndex): no gap, no duplicate", () => {
  it.effect("a consumer that starts before the writer, with a tiny sliding PubSub, sees every commit once in order", () =>
    Effect.gen(function* () {
      const store = yield* makeMemoryStore
      yield* store.putCommittee(CHAIN[0]!.committee)
      const pubsub = yield* PubSub.sliding<CommittedSubDag>(2)
      const consumer = yield* commitStream(store, pubsub, 1).pipe(
        // A slow consumer: it yields after every commit, so the PubSub overflows and drops.
        Stream.tap(() => Effect.yieldNow()),
        Stream.take(400),
        Stream.runCollect,
        Effect.fork
      )
      yield* produce(store, pubsub, 1, 400)
      expect(indices(yield* Fiber.join(consumer))).toEqual(range(1, 400))
    })
  )

  it.live("commits published between the consumer's watermark read and its wait, and dropped by the PubSub, are read from the store", () =>
    Effect.gen(function* () {
      const real = yield* makeMemoryStore
      yield* real.putCommittee(CHAIN[0]!.committee)
      const pubsub = yield* PubSub.sliding<CommittedSubDag>(2)
      let produced = 0
      // A store whose watermark read races with the producer: right after reading, five more commits
      // are stored and published (the PubSub keeps only the last two), and the stale value is returned.
      const racing: StoreService = {
        ...real,
        watermarks: Effect.gen(function* () {
          const stale = yield* real.watermarks
          if (produced < 100) {
            yield* Effect.orDie(produce(real, pubsub, produced + 1, produced + 5))
            produced += 5
          }
          return stale
        })
      }
      // A stream that skipped a dropped commit would wait for ever: bound it so the test fails instead.
      const seen = yield* commitStream(racing, pubsub, 1).pipe(Stream.take(100), Stream.runCollect, Effect.timeout("10 seconds"))
      expect(indices(seen)).toEqual(range(1, 100))
    })
  )

  it.effect("a consumer lagging by thousands of commits reads them from the store, then follows live", () =>
    Effect.gen(function* () {
      const store = yield* makeMemoryStore
      yield* store.putCommittee(CHAIN[0]!.committee)
      const pubsub = yield* PubSub.sliding<CommittedSubDag>(16)
      yield* produce(store, pubsub, 1, 2_300)
      const consumer = yield* commitStream(store, pubsub, 1).pipe(Stream.take(2_500), Stream.runCollect, Effect.fork)
      yield* produce(store, pubsub, 2_301, 2_500)
      expect(indices(yield* Fiber.join(consumer))).toEqual(range(1, 2_500))
    })
  )

  it.effect("a restarted consumer resumes from where it stopped without repeats", () =>
    Effect.gen(function* () {
      const store = yield* makeMemoryStore
      yield* store.putCommittee(CHAIN[0]!.committee)
      const pubsub = yield* PubSub.sliding<CommittedSubDag>(16)
      yield* produce(store, pubsub, 1, 120)
      const first = yield* commitStream(store, pubsub, 1).pipe(Stream.take(77), Stream.runCollect)
      const second = yield* commitStream(store, pubsub, 78).pipe(Stream.take(43), Stream.runCollect)
      expect([...indices(first), ...indices(second)]).toEqual(range(1, 120))
      // Blocks are exactly the commit's listed blocks, in order.
      const sample = Chunk.unsafeGet(second, 0)
      expect(sample.blocks.map((b) => b.ref.round + "/" + b.ref.author)).toEqual(CHAIN[77]!.subDag.blocks.map((b) => b.ref.round + "/" + b.ref.author))
    })
  )

  it.effect("asking for commits below what the store holds is a typed error", () =>
    Effect.gen(function* () {
      const store = yield* makeMemoryStore
      const anchor = CHAIN[99]!
      yield* store.initialise({ commitRef: anchor.subDag.commitRef, committee: CHAIN[100]!.committee })
      const pubsub = yield* PubSub.sliding<CommittedSubDag>(4)
      const result = yield* Effect.either(commitStream(store, pubsub, 50).pipe(Stream.take(1), Stream.runCollect))
      expect(Either.isLeft(result) && result.left._tag).toBe("CommitUnavailable")
    })
  )
})
