/**
 * FetchBlocks answers as the sync server produces them: duplicates read and sent once, blocks read
 * only when the transport pulls the next message, a total byte cap that leaves a prefix (so the
 * client can tell an answer cut for size from one withholding blocks), and streams whose reader stops
 * reading cut after the no-progress deadline (TestClock).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Option, Ref, Stream, TestClock } from "effect"
import * as fc from "fast-check"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { blockRefKey, type BlockRef } from "../../../src/domain/refs.js"
import { defaultP2pServerConfig } from "../../../src/layers/server/config.js"
import { makeP2pServerService } from "../../../src/layers/server/P2pServerLayer.js"
import { cutWhenUnread } from "../../../src/layers/server/progress.js"
import { makeRateLimiter } from "../../../src/layers/server/rateLimit.js"
import { P2pRoutes } from "../../../src/layers/server/routes.js"
import { mayBeCutForSize } from "../../../src/layers/sync/client.js"
import { RESPONSE_PAYLOAD_BUDGET, serveFetchBlocks } from "../../../src/layers/sync/serveCommits.js"
import { MAX_FETCH_BLOCKS_ANSWER_BYTES } from "../../../src/proto/limits.js"
import * as pb from "../../../src/proto/soma/p2p/v1/p2p.pb.js"
import type { NetworkService, ServerStreamHandler } from "../../../src/services/Network.js"
import type { StoreError } from "../../../src/services/Store.js"
import { testPeerId } from "../network/fixtures.js"

const MiB = 1024 * 1024

/** A ref whose digest is `i` (what serving keys blocks by). */
const ref = (i: number): BlockRef => ({ round: 1, author: 0, epoch: 0, digest: Uint8Array.from({ length: 32 }, (_, k) => (k === 0 ? i & 0xff : k === 1 ? i >> 8 : 0)) })

/** A block store of `sizes[i]` bytes under `ref(i)` (undefined: missing) that counts the refs it is asked for. */
const countingStore = (sizes: ReadonlyArray<number | undefined>) => {
  const blocks = new Map(sizes.flatMap((size, i) => (size === undefined ? [] : [[blockRefKey(ref(i)), new Uint8Array(size).fill(i & 0xff)] as const])))
  const reads = { refs: 0 }
  return {
    reads,
    store: {
      getBlockBytes: (refs: ReadonlyArray<BlockRef>): Effect.Effect<ReadonlyArray<Uint8Array>, StoreError> =>
        Effect.sync(() => {
          reads.refs += refs.length
          return refs.flatMap((r) => {
            const block = blocks.get(blockRefKey(r))
            return block === undefined ? [] : [block]
          })
        })
    }
  }
}

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

describe("serveFetchBlocks", () => {
  it.effect("a block named several times is read once and sent once", () =>
    Effect.gen(function* () {
      const { reads, store } = countingStore([10, 20, 30])
      const messages = yield* collect(serveFetchBlocks(store, [ref(0), ref(0), ref(1), ref(0), ref(1), ref(2), ref(2)]))
      expect(messages.flat().map((b) => b.length)).toEqual([10, 20, 30])
      expect(reads.refs).toBe(3)
      // 1,000 copies of one ref: one read (the attack that built a 60 MiB answer from a 48 KB request).
      const one = countingStore([3 * MiB])
      const copies = yield* collect(serveFetchBlocks(one.store, Array.from({ length: 1_000 }, () => ref(0))))
      expect(copies.flat().length).toBe(1)
      expect(one.reads.refs).toBe(1)
    })
  )

  it.effect("reads the blocks of a message only when that message is pulled", () =>
    Effect.gen(function* () {
      const { reads, store } = countingStore(Array.from({ length: 20 }, () => MiB))
      const first = yield* collect(Stream.take(serveFetchBlocks(store, Array.from({ length: 20 }, (_, i) => ref(i))), 1))
      expect(first[0]?.length).toBe(3) // 3 MiB fit a message of 4 MiB − 64 KiB, the 4th does not
      expect(reads.refs).toBe(4) // the three sent and the one carried to the next message
    })
  )

  it.effect("stops before the block that would take the answer past 32 MiB", () =>
    Effect.gen(function* () {
      const { reads, store } = countingStore(Array.from({ length: 40 }, () => 3 * MiB))
      const messages = yield* collect(serveFetchBlocks(store, Array.from({ length: 40 }, (_, i) => ref(i))))
      const total = messages.flat().reduce((n, b) => n + b.length, 0)
      expect(messages.flat().length).toBe(10) // 30 MiB; the 11th block would make 33
      expect(total).toBeLessThanOrEqual(MAX_FETCH_BLOCKS_ANSWER_BYTES)
      expect(reads.refs).toBe(11) // nothing after the block that did not fit is read
      expect(mayBeCutForSize(total)).toBe(true)
    })
  )

  it.effect.prop(
    "any answer: distinct present blocks in the order asked, a prefix of them, messages within budget, ≤ 32 MiB; what it leaves out is explained by the cap",
    [
      fc.array(fc.option(fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: MiB, max: RESPONSE_PAYLOAD_BUDGET + 10 })), { nil: undefined }), { maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 60 })
    ],
    ([sizes, picks]) =>
        Effect.gen(function* () {
          const { reads, store } = countingStore(sizes)
          const asked = sizes.length === 0 ? [] : picks.map((p) => p % sizes.length)
          const messages = yield* collect(serveFetchBlocks(store, asked.map(ref)))
          const distinct = [...new Set(asked)]
          expect(reads.refs).toBeLessThanOrEqual(distinct.length)
          for (const m of messages) expect(m.reduce((n, b) => n + b.length, 0)).toBeLessThanOrEqual(RESPONSE_PAYLOAD_BUDGET)
          const sent = messages.flat()
          const total = sent.reduce((n, b) => n + b.length, 0)
          expect(total).toBeLessThanOrEqual(MAX_FETCH_BLOCKS_ANSWER_BYTES)
          const servable = distinct.filter((i) => sizes[i] !== undefined && (sizes[i] as number) <= RESPONSE_PAYLOAD_BUDGET)
          expect(sent.map((b) => b.length)).toEqual(servable.slice(0, sent.length).map((i) => sizes[i]))
          // The client's rule: an answer that leaves out blocks the server has was cut for size.
          if (sent.length < servable.length) expect(mayBeCutForSize(total)).toBe(true)
        })
  )
})

describe("no-progress deadline", () => {
  it.effect("cutWhenUnread: a consumer that stops taking messages is interrupted after the deadline, not before", () =>
    Effect.gen(function* () {
      const cuts = yield* Ref.make(0)
      const finalized = yield* Ref.make(false)
      const source = Stream.make(1, 2, 3).pipe(Stream.ensuring(Ref.set(finalized, true)))
      const fiber = yield* Effect.fork(Stream.runForEach(cutWhenUnread(source, 10_000, Ref.update(cuts, (n) => n + 1)), (n) => (n === 2 ? Effect.never : Effect.void)))
      yield* TestClock.adjust("9999 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("2 millis")
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* Ref.get(cuts)).toBe(1)
      expect(yield* Ref.get(finalized)).toBe(true)
    })
  )

  it.effect("cutWhenUnread: a reader that keeps reading, however slowly between messages, is never cut", () =>
    Effect.gen(function* () {
      const cuts = yield* Ref.make(0)
      // The source takes 30 s per message (its own time, not the reader's): only the reader's time counts.
      const source = Stream.fromIterable([1, 2, 3]).pipe(Stream.tap(() => Effect.sleep("30 seconds")))
      const fiber = yield* Effect.fork(Stream.runCollect(cutWhenUnread(source, 10_000, Ref.update(cuts, (n) => n + 1))))
      yield* TestClock.adjust("2 minutes")
      expect(Chunk.toReadonlyArray(yield* Fiber.join(fiber))).toEqual([1, 2, 3])
      expect(yield* Ref.get(cuts)).toBe(0)
    })
  )

  it.effect("the P2P server cuts an unread FetchBlocks stream after 10 s, having read only the blocks of the message it handed over", () =>
    Effect.gen(function* () {
      const { reads, store } = countingStore(Array.from({ length: 12 }, () => MiB))
      // The inner network's side of the route: the handler the transport would run on the raw bytes.
      let registered: ServerStreamHandler<Uint8Array, pb.FetchBlocksResponse> | undefined
      const inner = {
        handleServerStream: (_method: unknown, handler: ServerStreamHandler<Uint8Array, pb.FetchBlocksResponse>) =>
          Effect.sync(() => {
            registered = handler
          })
      } as unknown as NetworkService
      const config = { ...defaultP2pServerConfig }
      const server = makeP2pServerService(inner, yield* makeRateLimiter(config), config)
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* server.serveStream(P2pRoutes.FetchBlocks, (request) =>
            serveFetchBlocks(store, request.blockRefs.map((_, i) => ref(i))).pipe(
              Stream.map((blocks) => ({ blocks: [...blocks] })),
              Stream.orDie
            )
          )
          const handler = registered
          if (handler === undefined) return yield* Effect.dieMessage("not registered")
          const bytes = pb.FetchBlocksRequest.encode({ blockRefs: Array.from({ length: 12 }, () => new Uint8Array(48)) }).finish()
          const peerId: PeerId = testPeerId(1)
          const handed = yield* Ref.make(0)
          // A transport whose write of the first message never completes: the caller does not read.
          const call = yield* Effect.fork(
            Stream.runForEach(handler(bytes, { peerId, path: P2pRoutes.FetchBlocks.method.path }), () => Effect.zipRight(Ref.update(handed, (n) => n + 1), Effect.never))
          )
          yield* TestClock.adjust("9 seconds")
          expect(Option.isNone(yield* Fiber.poll(call))).toBe(true)
          expect(yield* Ref.get(handed)).toBe(1)
          expect(reads.refs).toBe(4) // one message's blocks and the one carried, not the 12 asked for
          yield* TestClock.adjust("2 seconds")
          expect(Exit.isInterrupted(yield* Fiber.await(call))).toBe(true)
          expect(reads.refs).toBe(4)
        })
      )
    })
  )
})
