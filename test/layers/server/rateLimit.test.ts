/**
 * The rate table's pure transitions: a bucket gives the burst then the rate, the table never holds
 * more than `maxTrackedPeers` buckets whatever arrives, and eviction drops idle buckets first.
 */
import { describe, expect, it } from "@effect/vitest"
import { HashMap, Option } from "effect"
import * as fc from "fast-check"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { admit, evictionTarget, makeRoom, type RateLimits, type RateTable } from "../../../src/layers/server/rateLimit.js"

const peer = (n: number): PeerId => n.toString(16).padStart(64, "0") as PeerId

const run = (limits: RateLimits, calls: ReadonlyArray<readonly [number, number]>, table: RateTable = HashMap.empty()) => {
  let current = table
  const verdicts: Array<boolean> = []
  for (const [who, atMs] of calls) {
    const [allowed, next] = admit(current, peer(who), atMs, limits)
    verdicts.push(allowed)
    current = next
  }
  return { verdicts, table: current }
}

describe("rate table", () => {
  const limits: RateLimits = { ratePerSecond: 10, burst: 5, maxTrackedPeers: 100 }

  it("a fresh peer gets its burst at once, then one call per 1/rate", () => {
    const { verdicts } = run(limits, [
      ...Array.from({ length: 7 }, () => [1, 0] as const),
      [1, 99], // 0.99 tokens
      [1, 100], // 1 token
      [1, 100]
    ])
    expect(verdicts).toEqual([true, true, true, true, true, false, false, false, true, false])
  })

  it("a call is charged its cost: a heavy one takes the bucket into debt (floored at -burst), a refused one costs nothing", () => {
    let table: RateTable = HashMap.empty()
    const take = (atMs: number, cost: number) => {
      const [allowed, next] = admit(table, peer(1), atMs, limits, cost)
      table = next
      return allowed
    }
    expect(take(0, 3)).toBe(true) // 5 → 2
    expect(take(0, 874)).toBe(true) // admitted with tokens left, charged its weight: 2 → -5 (the floor)
    expect(Option.map(HashMap.get(table, peer(1)), (b) => b.tokens)).toEqual(Option.some(-5))
    expect(take(0, 1)).toBe(false) // refused, not charged
    expect(Option.map(HashMap.get(table, peer(1)), (b) => b.tokens)).toEqual(Option.some(-5))
    // Debt is paid back at the rate: 6 tokens at 10/s make one call possible after 600 ms, not before.
    expect(take(599, 1)).toBe(false)
    expect(take(600, 1)).toBe(true)
  })

  it.prop(
    "whatever the costs, a peer is admitted at most burst + rate × elapsed calls, and one of cost c leaves at most burst − c tokens (floored)",
    [fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 1_000 })), { maxLength: 100 })],
    ([steps]) => {
      let table: RateTable = HashMap.empty()
      let now = 0
      let admitted = 0
      for (const [dt, cost] of steps) {
        now += dt
        const [allowed, next] = admit(table, peer(1), now, limits, cost)
        table = next
        if (allowed) {
          admitted++
          const left = Option.getOrThrow(HashMap.get(table, peer(1))).tokens
          expect(left).toBeLessThanOrEqual(Math.max(-limits.burst, limits.burst - cost))
          expect(left).toBeGreaterThanOrEqual(-limits.burst)
        }
      }
      expect(admitted).toBeLessThanOrEqual(limits.burst + (now * limits.ratePerSecond) / 1000)
    }
  )

  it("peers do not share buckets", () => {
    const { verdicts } = run(limits, [...Array.from({ length: 6 }, () => [1, 0] as const), [2, 0]])
    expect(verdicts).toEqual([true, true, true, true, true, false, true])
  })

  it.prop(
    "a peer is never admitted more than burst + rate × elapsed times",
    [fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 400 })), { maxLength: 400 })],
    ([steps]) => {
      let now = 0
      const calls = steps.map(([who, dt]) => [who, (now += dt)] as const)
      const { verdicts } = run(limits, calls)
      for (const who of [0, 1, 2, 3]) {
        const mine = calls.flatMap(([w, at], i) => (w === who && verdicts[i] === true ? [at] : []))
        const first = mine[0]
        const last = mine[mine.length - 1]
        if (first === undefined || last === undefined) continue
        expect(mine.length).toBeLessThanOrEqual(limits.burst + ((last - first) * limits.ratePerSecond) / 1000 + 1e-9)
      }
    }
  )

  it.prop(
    "the table never holds more than maxTrackedPeers buckets, whatever identities arrive",
    [fc.array(fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 50 })), { maxLength: 600 }), fc.integer({ min: 1, max: 40 })],
    ([steps, max]) => {
      const small: RateLimits = { ratePerSecond: 2, burst: 3, maxTrackedPeers: max }
      let now = 0
      let table: RateTable = HashMap.empty()
      for (const [who, dt] of steps) {
        now += dt
        table = admit(table, peer(who), now, small)[1]
        expect(HashMap.size(table)).toBeLessThanOrEqual(max)
      }
    }
  )

  it("when full, idle buckets go first: a peer that spent its burst keeps its (spent) bucket when new identities arrive", () => {
    const small: RateLimits = { ratePerSecond: 1, burst: 2, maxTrackedPeers: 10 }
    // Peer 0 spends its burst at t=0; peers 1..9 call once at t=0 and are idle (refilled) by t=1000.
    const { table } = run(small, [[0, 0], [0, 0], ...Array.from({ length: 9 }, (_, i) => [i + 1, 0] as const)])
    expect(HashMap.size(table)).toBe(10)
    // At t=1000 peers 1..9 are back to 2 of 2 tokens (idle), peer 0 at 1 of 2: a new identity evicts
    // the idle ones and keeps peer 0's bucket as it was.
    const [allowed, next] = admit(table, peer(100), 1_000, small)
    expect(allowed).toBe(true)
    expect(HashMap.has(next, peer(0))).toBe(true)
    expect(Option.map(HashMap.get(next, peer(0)), (b) => b.tokens)).toEqual(Option.some(0))
    expect(HashMap.size(next)).toBe(2)
  })

  it("when full of active buckets, the least recently used go, down to 90%", () => {
    const small: RateLimits = { ratePerSecond: 0.001, burst: 2, maxTrackedPeers: 20 }
    const { table } = run(small, Array.from({ length: 20 }, (_, i) => [i, i] as const))
    const room = makeRoom(table, 100, small)
    expect(HashMap.size(room)).toBe(evictionTarget(small))
    expect(evictionTarget(small)).toBe(18)
    expect(HashMap.has(room, peer(0))).toBe(false)
    expect(HashMap.has(room, peer(1))).toBe(false)
    expect(HashMap.has(room, peer(2))).toBe(true)
  })
})
