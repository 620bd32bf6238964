/**
 * `commits(fromIndex)`: the gapless, duplicate-free commit stream of DESIGN.md §6. It subscribes to the
 * live PubSub *first*, then reads the store up to its watermark, then follows the subscription; any
 * index it has already delivered is skipped, and any gap (the PubSub dropped commits for a slow
 * subscriber) sends it back to the store, which has every published commit. So the publisher never
 * waits for a consumer, and a consumer never misses a commit.
 */
import { Chunk, Effect, Option, PubSub, Queue, Stream } from "effect"
import type { CommittedSubDag } from "../../domain/commit.js"
import { CommitUnavailable } from "../../services/StateSync.js"
import type { StoreError, StoreService } from "../../services/Store.js"

/** Commits read from the store per pull while catching up. */
const STORE_READ_BATCH = 64

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

      const fromStore = (highest: number) =>
        Effect.gen(function* () {
          const out: Array<CommittedSubDag> = []
          const upTo = Math.min(highest, next + STORE_READ_BATCH - 1)
          for (let index = next; index <= upTo; index++) {
            const subDag = yield* store.commitSubDag(index)
            if (Option.isNone(subDag)) {
              const { lowestAvailableCommit } = yield* store.watermarks
              return yield* Effect.fail(new CommitUnavailable({ index, lowestAvailableCommit }))
            }
            out.push(subDag.value)
          }
          next = upTo + 1
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
        return next <= highestSyncedCommit ? yield* fromStore(highestSyncedCommit) : yield* fromLive
      })

      return Stream.repeatEffectChunkOption(Effect.mapError(pull, Option.some))
    })
  )
