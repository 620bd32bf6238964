/**
 * Committees by epoch, read from the store once: a stored committee never changes, and decoding one of
 * 100 validators on every fetch and every served request is main-thread work taken from verification.
 * One object per epoch also lets the verifier cache per committee (BLS key set, genesis refs).
 * Bounded: only the newest epochs are kept (sync works on one or two at a time).
 */
import { Effect, Option } from "effect"
import type { Committee } from "../../domain/committee.js"
import type { StoreError, StoreService } from "../../services/Store.js"

/** Epochs kept; older ones are read again if ever needed (serving old history). */
const EPOCHS_KEPT = 8

/** A read-through cache of stored committees. */
export interface CommitteeCache {
  readonly get: (epoch: number) => Effect.Effect<Option.Option<Committee>, StoreError>
}

/** A cache over `store` (absent committees are not cached: they appear when their epoch is installed). */
export const makeCommitteeCache = (store: StoreService): CommitteeCache => {
  const cached = new Map<number, Committee>()
  return {
    get: (epoch) =>
      Effect.suspend(() => {
        const hit = cached.get(epoch)
        if (hit !== undefined) return Effect.succeed(Option.some(hit))
        return Effect.tap(store.getCommittee(epoch), (found) =>
          Effect.sync(() => {
            if (Option.isNone(found)) return
            cached.set(epoch, found.value)
            if (cached.size > EPOCHS_KEPT) cached.delete(Math.min(...cached.keys()))
          })
        )
      })
  }
}
