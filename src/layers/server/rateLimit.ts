/**
 * The per-peer request-rate limit: a token bucket per caller PeerId, in a table of bounded size.
 * A call is admitted while its caller's bucket holds a token, and is charged the work it asks for
 * (`cost`, ≥ 1): a large request may take the bucket into debt, down to `-burst`, so that one
 * expensive request (or an oversized one, refused after the charge) keeps its sender out for as long
 * as its work is worth, without letting one bad request lock a peer out for longer than 2 × burst / rate.
 * The transitions are pure functions of (table, peer, now); `makeRateLimiter` keeps the table in a
 * `Ref` and reads the time from `Clock`, so `TestClock` drives it.
 */
import { Array as Arr, Clock, Effect, HashMap, Option, Order, Ref } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import { EVICTION_FRACTION } from "./constants.js"

/** The limits the table enforces. */
export interface RateLimits {
  readonly ratePerSecond: number
  readonly burst: number
  readonly maxTrackedPeers: number
}

/** One caller's bucket: `tokens` as of `atMs` (refilled lazily when next used). */
export interface Bucket {
  readonly tokens: number
  readonly atMs: number
}

/** Buckets by caller. */
export type RateTable = HashMap.HashMap<PeerId, Bucket>

/** The tokens of `bucket` at `nowMs`: refilled at the rate, capped at the burst. */
export const tokensAt = (bucket: Bucket, nowMs: number, limits: RateLimits): number =>
  Math.min(limits.burst, bucket.tokens + (Math.max(0, nowMs - bucket.atMs) * limits.ratePerSecond) / 1000)

/** Whether a bucket has refilled completely: forgetting it changes nothing (a new one starts full). */
const isIdle = (bucket: Bucket, nowMs: number, limits: RateLimits): boolean => tokensAt(bucket, nowMs, limits) >= limits.burst

/** Size the table is brought down to when it is full. */
export const evictionTarget = (limits: RateLimits): number =>
  limits.maxTrackedPeers - Math.max(1, Math.floor(limits.maxTrackedPeers * EVICTION_FRACTION))

const byLastUse = Order.combine(
  Order.mapInput(Order.number, ([, bucket]: readonly [PeerId, Bucket]) => bucket.atMs),
  Order.mapInput(Order.string, ([peerId]: readonly [PeerId, Bucket]) => peerId)
)

/**
 * Room for one more bucket: when the table is full, drop every idle bucket, then the least recently
 * used ones down to `evictionTarget` (so the O(n) sweep runs once per ~10% of the table's inserts).
 */
export const makeRoom = (table: RateTable, nowMs: number, limits: RateLimits): RateTable => {
  if (HashMap.size(table) < limits.maxTrackedPeers) return table
  const active = HashMap.filter(table, (bucket) => !isIdle(bucket, nowMs, limits))
  const target = evictionTarget(limits)
  const excess = HashMap.size(active) - target
  if (excess <= 0) return active
  const oldest = Arr.sort(Array.from(active), byLastUse).slice(0, excess)
  return HashMap.removeMany(active, oldest.map(([peerId]) => peerId))
}

/**
 * Charges `cost` tokens (default 1) to `peerId` at `nowMs` if its bucket holds at least one token:
 * whether the call may go ahead, and the next table. A refused call is not charged (its bucket is
 * already empty and refusing it costs us next to nothing).
 */
export const admit = (table: RateTable, peerId: PeerId, nowMs: number, limits: RateLimits, cost = 1): readonly [boolean, RateTable] => {
  const existing = HashMap.get(table, peerId)
  const base = Option.isSome(existing) ? table : makeRoom(table, nowMs, limits)
  const tokens = Option.match(existing, { onNone: () => limits.burst, onSome: (bucket) => tokensAt(bucket, nowMs, limits) })
  const allowed = tokens >= 1
  // A clock that steps back never refills a bucket twice.
  const atMs = Option.match(existing, { onNone: () => nowMs, onSome: (bucket) => Math.max(bucket.atMs, nowMs) })
  return [allowed, HashMap.set(base, peerId, { tokens: allowed ? Math.max(-limits.burst, tokens - Math.max(1, cost)) : tokens, atMs })]
}

/** The rate limiter of one server. */
export interface RateLimiter {
  /** Charges `cost` tokens (default 1) to `peerId`; false when it is over its rate. */
  readonly admit: (peerId: PeerId, cost?: number) => Effect.Effect<boolean>
  /** Buckets held (for tests and metrics). */
  readonly trackedPeers: Effect.Effect<number>
}

/** Makes a limiter with an empty table. */
export const makeRateLimiter = (limits: RateLimits): Effect.Effect<RateLimiter> =>
  Effect.map(Ref.make<RateTable>(HashMap.empty()), (table) => ({
    admit: (peerId, cost = 1) =>
      Effect.flatMap(Clock.currentTimeMillis, (nowMs) => Ref.modify(table, (current) => admit(current, peerId, nowMs, limits, cost))),
    trackedPeers: Effect.map(Ref.get(table), HashMap.size)
  }))
