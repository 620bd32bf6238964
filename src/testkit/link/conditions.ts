/**
 * The link emulator's model as plain arithmetic: when a chunk of bytes leaves the sender's end of a
 * link and when it reaches the other end, given the one-way delay and the bandwidth cap, and how many
 * bytes one direction may hold before it pushes back on its sender. Kept apart from sockets and timers
 * so the model is tested directly and the relay only has to follow the times it is given.
 */

/** What a link does to the bytes that cross it, the same in each direction. */
export interface LinkConditions {
  /** Added to every byte in each direction (RTT grows by twice this). */
  readonly oneWayDelayMs: number
  /** Cap per direction, in bits per second; undefined or 0: unlimited. */
  readonly bandwidthBitsPerSec?: number
}

/**
 * Least a capped direction may hold. A capped direction's queue is the link's bottleneck buffer: the
 * sender's TCP connection to the relay is on loopback and never sees loss, so this bound (not
 * congestion control) is what stops the sender. 1 MiB is several HTTP/2 flow-control windows (64 KiB
 * by default) yet adds at most ~0.4 s of queueing at 20 Mbit/s.
 */
export const MIN_HIGH_WATER_BYTES = 1024 * 1024

/**
 * How many bandwidth-delay products a capped direction may hold: one is in flight (serialized, not yet
 * arrived), the other is queue, so a sender can keep the link busy while the cap is the bottleneck.
 */
export const HIGH_WATER_BDP_MULTIPLE = 2

/**
 * What an uncapped direction may hold. Without a cap only the delay keeps bytes in the queue, so this
 * bounds throughput to about this much per one-way delay: 8 MiB per 50 ms is ~1.3 Gbit/s, above what a
 * node on this machine sends, while a stalled or slow link still holds a bounded amount.
 */
export const UNCAPPED_HIGH_WATER_BYTES = 8 * 1024 * 1024

/** Where one direction of a connection stands: when its sender side is free, when its last byte lands. */
export interface DirectionClock {
  /** When the last scheduled chunk has been fully serialized (the "wire" is free again). */
  readonly busyUntilMs: number
  /** When the last scheduled chunk arrives; later chunks never arrive before it (order is kept). */
  readonly lastArrivalMs: number
}

/** A direction that has sent nothing yet. */
export const idleClock: DirectionClock = { busyUntilMs: Number.NEGATIVE_INFINITY, lastArrivalMs: Number.NEGATIVE_INFINITY }

/** The times of one chunk, and the direction's clock after it. */
export interface ScheduledChunk {
  /** When its last bit has left the sender's end. */
  readonly departedMs: number
  /** When it is handed to the receiver. */
  readonly arrivalMs: number
  readonly clock: DirectionClock
}

/** Whether the conditions cap bandwidth (undefined or 0 means unlimited). */
export const isCapped = (conditions: LinkConditions): boolean =>
  conditions.bandwidthBitsPerSec !== undefined && conditions.bandwidthBitsPerSec > 0

/** How long `bytes` take to serialize under the cap; 0 when unlimited. */
export const serializationMs = (bytes: number, conditions: LinkConditions): number =>
  isCapped(conditions) ? (bytes * 8 * 1000) / (conditions.bandwidthBitsPerSec as number) : 0

/**
 * Schedules a chunk of `bytes` handed to the link at `nowMs`: it starts to depart when the wire is free
 * (`max(now, busyUntil)`), takes `bytes * 8 / bandwidth` to serialize, then arrives one delay later —
 * but never before the previous chunk, so lowering the delay with bytes in flight keeps their order.
 * A zero-byte chunk (a FIN) takes no wire time but still waits its turn and the delay.
 */
export const scheduleChunk = (clock: DirectionClock, conditions: LinkConditions, nowMs: number, bytes: number): ScheduledChunk => {
  const departedMs = Math.max(nowMs, clock.busyUntilMs) + serializationMs(bytes, conditions)
  const arrivalMs = Math.max(departedMs + conditions.oneWayDelayMs, clock.lastArrivalMs)
  return { departedMs, arrivalMs, clock: { busyUntilMs: departedMs, lastArrivalMs: arrivalMs } }
}

/** Shifts a clock by `ms`: after a stall, the link resumes where it stood when time stopped. */
export const shiftClock = (clock: DirectionClock, ms: number): DirectionClock => ({
  busyUntilMs: clock.busyUntilMs + ms,
  lastArrivalMs: clock.lastArrivalMs + ms
})

/** Bytes in flight on a capped link when it is full: bandwidth × round-trip time. */
export const bandwidthDelayBytes = (conditions: LinkConditions): number =>
  isCapped(conditions) ? ((conditions.bandwidthBitsPerSec as number) / 8) * ((2 * conditions.oneWayDelayMs) / 1000) : 0

/**
 * Bytes one direction may hold (queued in the relay plus waiting in the receiving socket) before the
 * relay stops reading from the sender; it reads again below half of it.
 */
export const highWaterBytes = (conditions: LinkConditions): number =>
  isCapped(conditions)
    ? Math.max(MIN_HIGH_WATER_BYTES, HIGH_WATER_BDP_MULTIPLE * bandwidthDelayBytes(conditions))
    : UNCAPPED_HIGH_WATER_BYTES

/** Why conditions are unusable, or undefined when they are fine. */
export const conditionsProblem = (conditions: Partial<LinkConditions>): string | undefined => {
  const { oneWayDelayMs, bandwidthBitsPerSec } = conditions
  if (oneWayDelayMs !== undefined && !(Number.isFinite(oneWayDelayMs) && oneWayDelayMs >= 0))
    return `oneWayDelayMs must be a finite number >= 0, got ${oneWayDelayMs}`
  if (bandwidthBitsPerSec !== undefined && !(Number.isFinite(bandwidthBitsPerSec) && bandwidthBitsPerSec >= 0))
    return `bandwidthBitsPerSec must be a finite number >= 0 (0: unlimited), got ${bandwidthBitsPerSec}`
  return undefined
}

/** Applies a change: fields left out keep their value. */
export const updateConditions = (current: LinkConditions, change: Partial<LinkConditions>): LinkConditions => {
  const oneWayDelayMs = change.oneWayDelayMs ?? current.oneWayDelayMs
  const bandwidthBitsPerSec = change.bandwidthBitsPerSec ?? current.bandwidthBitsPerSec
  return bandwidthBitsPerSec === undefined ? { oneWayDelayMs } : { oneWayDelayMs, bandwidthBitsPerSec }
}
