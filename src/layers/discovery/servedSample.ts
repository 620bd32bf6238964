/**
 * The sample GetKnownPeers answers are drawn from, computed at most once per `maxAgeMs` (one discovery
 * tick) and shared by every caller: ranking the whole table costs milliseconds at 10,000 records, and
 * a peer may call up to 100 times a second. The first caller after the sample went stale recomputes it
 * while later callers wait for that result (the computation only reads the ledger; nothing awaits the
 * network under the lock), so a burst of calls costs one ranking, not one each.
 */
import { Clock, Effect, SynchronizedRef } from "effect"
import type { SignedNodeInfo } from "../../domain/nodeInfo.js"

interface Cached {
  readonly atMs: number
  readonly sample: ReadonlyArray<SignedNodeInfo>
}

/** A cached sample: `get` answers it, recomputing with `compute` when it is `maxAgeMs` old or older. */
export interface ServedSample {
  readonly get: Effect.Effect<ReadonlyArray<SignedNodeInfo>>
}

/** Makes the cache (empty: the first `get` computes). */
export const makeServedSample = (compute: Effect.Effect<ReadonlyArray<SignedNodeInfo>>, maxAgeMs: number): Effect.Effect<ServedSample> =>
  Effect.map(SynchronizedRef.make<Cached | undefined>(undefined), (cache) => ({
    get: SynchronizedRef.modifyEffect(cache, (cached) =>
      Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
        cached !== undefined && nowMs - cached.atMs < maxAgeMs
          ? Effect.succeed([cached.sample, cached] as const)
          : Effect.map(compute, (sample) => [sample, { atMs: nowMs, sample }] as const)
      )
    )
  }))
