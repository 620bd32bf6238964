/**
 * `commits(fromIndex)`: the gapless, duplicate-free commit stream of DESIGN.md §6. It subscribes to the
 * live PubSub *first*, then reads the store up to its watermark, then follows the subscription; any
 * index it has already delivered is skipped, and any gap (the PubSub dropped commits for a slow
 * subscriber) sends it back to the store, which has every published commit. So the publisher never
 * waits for a consumer, and a consumer never misses a commit.
 *
 * Memory: a consumer behind the watermark first takes what its subscription already holds (those
 * sub-DAGs are in memory anyway, and re-reading them from the store would hold them twice), and reads
 * the store a page at a time, a page bounded in blocks as well as commits.
 */
import { Chunk, Effect, Option, PubSub, Queue, Stream } from "effect"
import type { CommittedSubDag } from "../../domain/commit.js"
import { CommitUnavailable } from "../../services/StateSync.js"
import type { StoreError, StoreService } from "../../services/Store.js"

/** Commits read from the store per pull while catching up, at most. */
export const STORE_READ_MAX_COMMITS = 64
/**
 * A store page ends once it holds this many blocks (it always holds at least one commit): 64 commits
 * of 100 validators are ≈ 6,400 decoded blocks at once, more than the whole sync plan holds (1,500).
 * 500 blocks are 50 commits at 10 validators, 5 at 100.
 */
export const STORE_READ_MAX_BLOCKS = 500

/** The commit stream from `fromIndex` over a store and the live PubSub of newly stored commits. */
export const commitStream = (
  store: StoreService,
  published: PubSub.PubSub<CommittedSubDag>,
  fromIndex: number
): Stream.Stream<CommittedSubDag, StoreError | CommitUnavailable> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const live = yield* PubSub.subscribe(published)
      let next = Math.max(1, Math.floor(fromIndex))

      /** One page from the store, from `next`: at most 64 commits, and no commit past 500 blocks. */
      const fromStore = (highest: number) =>
        Effect.gen(function* () {
          const out: Array<CommittedSubDag> = []
          let blocks = 0
          const upTo = Math.min(highest, next + STORE_READ_MAX_COMMITS - 1)
          for (let index = next; index <= upTo && blocks < STORE_READ_MAX_BLOCKS; index++) {
            const subDag = yield* store.commitSubDag(index)
            if (Option.isNone(subDag)) {
              const { lowestAvailableCommit } = yield* store.watermarks
              return yield* Effect.fail(new CommitUnavailable({ index, lowestAvailableCommit }))
            }
            out.push(subDag.value)
            blocks += subDag.value.blocks.length
          }
          next += out.length
          return Chunk.fromIterable(out)
        })

      /**
       * Empties the subscription: the commits it holds from `next` on, consecutively, are delivered
       * from it; what is older was delivered already, and what follows a gap is read from the store
       * later — dropped here rather than kept, so that the queue never holds sub-DAGs the consumer is
       * not about to take.
       */
      const takeQueued = Effect.map(Queue.takeAll(live), (queued) => {
        const out: Array<CommittedSubDag> = []
        for (const subDag of queued) {
          const index = subDag.commitRef.index
          if (index < next) continue
          if (index > next) break
          out.push(subDag)
          next += 1
        }
        return Chunk.fromIterable(out)
      })

      const fromLive = Effect.gen(function* () {
        for (;;) {
          const subDag = yield* Queue.take(live)
          const index = subDag.commitRef.index
          if (index < next) continue // already delivered from the store
          if (index > next) return Chunk.empty<CommittedSubDag>() // missed some: catch up from the store
          next += 1
          return Chunk.of(subDag)
        }
      })

      const pull = Effect.gen(function* () {
        const { highestSyncedCommit } = yield* store.watermarks
        if (next > highestSyncedCommit) return yield* fromLive
        // Behind the watermark: a delivery stores before it publishes, so a consumer that keeps up
        // finds its next commits in the subscription; one that lags reads a page of the store.
        const queued = yield* takeQueued
        return Chunk.isNonEmpty(queued) ? queued : yield* fromStore(highestSyncedCommit)
      })

      return Stream.repeatEffectChunkOption(Effect.mapError(pull, Option.some))
    })
  )
