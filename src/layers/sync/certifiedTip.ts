/**
 * The certified tip (DESIGN.md §6.1): the highest stored commit whose quorum votes are stored too — what
 * this node can prove, and therefore what it advertises (GetCommitAvailability, PushCommit) and serves up
 * to. A validator stores commit k at commit time and the blocks voting for k arrive later, so its
 * certified tip trails its stored tip by about one commit. Advertising the stored tip instead promises
 * commits that no answer can prove, and an honest peer asking for them gets an empty answer.
 *
 * Synced ranges always end on a certified commit (their certifiers are stored with them), so a full
 * node's certified tip is its synced watermark; only local writes (the validator path) need a look at the
 * stored votes, and that look is bounded: at most `MAX_COMMITS_PER_RANGE` commits below the stored tip.
 */
import { Effect, Option, Ref } from "effect"
import type { CommitRef } from "../../domain/refs.js"
import type { StoreError, StoreService } from "../../services/Store.js"
import type { CommitteeCache } from "./committeeCache.js"
import { MAX_COMMITS_PER_RANGE } from "./constants.js"
import { quorumVoters } from "./serveCommits.js"

/** Commits below the stored tip examined for quorum votes after a local write (at most). */
const MAX_COMMITS_EXAMINED = MAX_COMMITS_PER_RANGE

export interface CertifiedTip {
  /** The current certified tip (the start checkpoint — genesis — until a commit is certified). */
  readonly get: Effect.Effect<CommitRef>
  /** Sync delivered commits up to `ref`, whose certifiers it verified and stored: `ref` is certified. */
  readonly certified: (ref: CommitRef) => Effect.Effect<void>
  /** After a local write (commits or votes): the new tip if a higher commit is now certified. */
  readonly refresh: Effect.Effect<Option.Option<CommitRef>, StoreError>
}

/** A tracker starting at `start` (the trusted checkpoint); call `refresh` once to pick up what the store holds. */
export const makeCertifiedTip = (store: StoreService, committees: CommitteeCache, start: CommitRef): Effect.Effect<CertifiedTip> =>
  Effect.map(Ref.make(start), (tip) => {
    const advanceTo = (ref: CommitRef) => Ref.update(tip, (current) => (ref.index > current.index ? ref : current))
    const refresh = Effect.gen(function* () {
      const current = yield* Ref.get(tip)
      const { highestSyncedCommit } = yield* store.watermarks
      const lowest = Math.max(current.index + 1, highestSyncedCommit - MAX_COMMITS_EXAMINED + 1)
      for (let index = highestSyncedCommit; index >= lowest; index--) {
        const commit = yield* store.getCommit(index)
        if (Option.isNone(commit)) return Option.none()
        const committee = yield* committees.get(commit.value.commit.epoch)
        if (Option.isNone(committee)) return Option.none()
        const voters = yield* quorumVoters(store, committee.value, commit.value.ref)
        if (Option.isSome(voters)) {
          yield* advanceTo(commit.value.ref)
          return Option.some(commit.value.ref)
        }
      }
      return Option.none()
    })
    return { get: Ref.get(tip), certified: advanceTo, refresh }
  })
