/**
 * The link model's arithmetic (conditions.ts) on its own: when chunks arrive under a delay and a
 * bandwidth cap, that order survives a lowered delay, and how much a direction may hold.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  conditionsProblem,
  highWaterBytes,
  idleClock,
  MIN_HIGH_WATER_BYTES,
  scheduleChunk,
  shiftClock,
  UNCAPPED_HIGH_WATER_BYTES,
  updateConditions,
  type DirectionClock,
  type LinkConditions
} from "../../../src/testkit/link/conditions.js"

/** Schedules chunks `[atMs, bytes]` in turn; their arrival times. */
const arrivals = (conditions: LinkConditions, chunks: ReadonlyArray<readonly [number, number]>): Array<number> => {
  let clock: DirectionClock = idleClock
  return chunks.map(([atMs, bytes]) => {
    const scheduled = scheduleChunk(clock, conditions, atMs, bytes)
    clock = scheduled.clock
    return scheduled.arrivalMs
  })
}

describe("link conditions", () => {
  it("without a cap, every chunk arrives one delay after it was handed over", () => {
    expect(arrivals({ oneWayDelayMs: 50 }, [[0, 1_000_000], [1, 10], [30, 5]])).toEqual([50, 51, 80])
    expect(arrivals({ oneWayDelayMs: 50, bandwidthBitsPerSec: 0 }, [[0, 1_000_000]])).toEqual([50])
  })

  it("with a cap, chunks serialize back to back, then take the delay", () => {
    // 1 Mbit/s: 1250 bytes take 10 ms on the wire.
    const conditions = { oneWayDelayMs: 5, bandwidthBitsPerSec: 1_000_000 }
    expect(arrivals(conditions, [[0, 1250], [0, 1250], [2, 1250]])).toEqual([15, 25, 35])
  })

  it("a link that went idle starts the next chunk at once", () => {
    const conditions = { oneWayDelayMs: 5, bandwidthBitsPerSec: 1_000_000 }
    expect(arrivals(conditions, [[0, 1250], [100, 1250]])).toEqual([15, 115])
  })

  it("a FIN (zero bytes) takes no wire time but waits behind the data", () => {
    const conditions = { oneWayDelayMs: 5, bandwidthBitsPerSec: 1_000_000 }
    expect(arrivals(conditions, [[0, 1250], [0, 0]])).toEqual([15, 15])
  })

  it("lowering the delay never lets a later chunk overtake an earlier one", () => {
    let clock = scheduleChunk(idleClock, { oneWayDelayMs: 100 }, 0, 10).clock
    const later = scheduleChunk(clock, { oneWayDelayMs: 10 }, 1, 10)
    expect(later.arrivalMs).toBe(100)
    clock = later.clock
    expect(scheduleChunk(clock, { oneWayDelayMs: 10 }, 200, 10).arrivalMs).toBe(210)
  })

  it("a stall shifts a direction's clock by its length", () => {
    const { clock } = scheduleChunk(idleClock, { oneWayDelayMs: 10 }, 0, 10)
    expect(shiftClock(clock, 500)).toEqual({ busyUntilMs: 500, lastArrivalMs: 510 })
  })

  it("a capped direction may hold two bandwidth-delay products, at least 1 MiB; an uncapped one a fixed amount", () => {
    // 100 Mbit/s and 100 ms RTT: 1.25 MB in flight.
    expect(highWaterBytes({ oneWayDelayMs: 50, bandwidthBitsPerSec: 100_000_000 })).toBe(2_500_000)
    expect(highWaterBytes({ oneWayDelayMs: 1, bandwidthBitsPerSec: 1_000_000 })).toBe(MIN_HIGH_WATER_BYTES)
    expect(highWaterBytes({ oneWayDelayMs: 50 })).toBe(UNCAPPED_HIGH_WATER_BYTES)
  })

  it("a change keeps what it leaves out, and bad values are named", () => {
    expect(updateConditions({ oneWayDelayMs: 5, bandwidthBitsPerSec: 8 }, { oneWayDelayMs: 7 })).toEqual({ oneWayDelayMs: 7, bandwidthBitsPerSec: 8 })
    expect(updateConditions({ oneWayDelayMs: 5 }, { bandwidthBitsPerSec: 8 })).toEqual({ oneWayDelayMs: 5, bandwidthBitsPerSec: 8 })
    expect(conditionsProblem({ oneWayDelayMs: 0, bandwidthBitsPerSec: 0 })).toBeUndefined()
    expect(conditionsProblem({ oneWayDelayMs: -1 })).toMatch(/oneWayDelayMs/)
    expect(conditionsProblem({ bandwidthBitsPerSec: Number.NaN })).toMatch(/bandwidthBitsPerSec/)
  })
})
