/**
 * The native BLS path of `NodeCryptoLayer` beyond the shared contract: bisection of failed batches
 * (exact verdicts, and a bounded number of pairing checks), the per-thread caches of decoded key sets
 * and aggregated keys (hits, content checks, bounds), the inline path against the worker pool, and
 * Ed25519 and BLS chunks sharing one pool.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { blsVerifyStats, verifyBlsChunk } from "../../../src/layers/crypto/blsVerify.mjs"
import { packBlsChunk } from "../../../src/layers/crypto/chunkFormat.js"
import { makeNodeCrypto } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { makeVerifyPool } from "../../../src/layers/crypto/verifyPool.js"
import type { AggregateItem } from "../../../src/services/Crypto.js"
import { certify, makeCommittee, pickSigners, withKey } from "./blsFixtures.js"
import { blsCases } from "./blsSuite.js"
import { utf8, validFixed } from "./fixtures.js"

const committee = makeCommittee("node", 16)

/** `count` valid certificates over distinct messages by random 11-of-16 signer sets. */
const certificates = (count: number, prefix: string): Array<AggregateItem> =>
  Array.from({ length: count }, (_, i) => certify(committee, pickSigners(16, 11, i * 7 + 3), utf8(`${prefix} ${i}`)))

/** Breaks the items at `bad` (wrong message) and returns the expected verdicts. */
const breakAt = (items: Array<AggregateItem>, bad: ReadonlyArray<number>): ReadonlyArray<boolean> => {
  for (const i of bad) items[i] = { ...items[i]!, message: utf8(`forged ${i}`) }
  return items.map((_, i) => !bad.includes(i))
}

/** Verdicts of the inline path (this thread's caches), and how many pairing checks they took. */
const verifyHere = (items: ReadonlyArray<AggregateItem>) => {
  const before = blsVerifyStats().batchChecks
  const verdicts = Array.from(verifyBlsChunk(packBlsChunk(items, 0, items.length)), (v) => v === 1)
  return { verdicts, checks: blsVerifyStats().batchChecks - before }
}

describe("BLS batch verification and bisection (blst)", () => {
  it("a valid batch takes one pairing check; k bad items take O(k log n) and are found exactly", () => {
    const n = 64
    const all = certificates(n, "valid")
    expect(verifyHere(all)).toEqual({ verdicts: all.map(() => true), checks: 1 })

    for (const bad of [[0], [63], [31, 32], [5, 17, 40, 41, 60], [...Array(n).keys()]]) {
      const items = certificates(n, `bad ${bad.join(",")}`)
      const expected = breakAt(items, bad)
      const { verdicts, checks } = verifyHere(items)
      expect(verdicts).toEqual(expected)
      // each bad item costs at most two checks per level of the bisection (2·log2 64 = 12)
      expect(checks).toBeLessThanOrEqual(1 + bad.length * 2 * Math.log2(n))
    }
  })

  it.effect("the pool finds exactly the bad items of large batches split over both workers", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const pool = yield* makeVerifyPool({ size: 2, maxBlsChunkItems: 40 }).pipe(Scope.extend(scope))
      const items = certificates(150, "pool")
      const expected = breakAt(items, [0, 39, 40, 77, 149])
      expect(yield* pool.verifyAggregates(items)).toEqual(expected)
      expect(yield* pool.verifyAggregates([])).toEqual([])
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.effect("the inline path and the pool give the same verdicts on every hand-made case", () =>
    Effect.gen(function* () {
      const inline = yield* makeNodeCrypto({ blsInlineBelow: 1_000_000, pool: { size: 1 } })
      const pooled = yield* makeNodeCrypto({ blsInlineBelow: 0, pool: { size: 2 } })
      const cases = blsCases()
      const items = cases.map((c) => c.item)
      expect(yield* inline.verifyAggregates(items)).toEqual(cases.map((c) => c.expected))
      expect(yield* pooled.verifyAggregates(items)).toEqual(cases.map((c) => c.expected))
    }).pipe(Effect.scoped)
  )

  it.effect("Ed25519 and BLS batches share the pool concurrently, each verdict in order", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const pool = yield* makeVerifyPool({ size: 2, maxChunkItems: 30, maxBlsChunkItems: 8 }).pipe(Scope.extend(scope))
      const blsBatches = [0, 1, 2].map((b) => {
        const items = certificates(20 + b * 9, `mixed ${b}`)
        return { items, expected: breakAt(items, [b, 19]) }
      })
      const edBatch = Array.from({ length: 90 }, (_, i) => validFixed(utf8(`ed ${i}`)))
      const [edVerdicts, ...blsVerdicts] = yield* Effect.all(
        [pool.verifyMany(edBatch), ...blsBatches.map((b) => pool.verifyAggregates(b.items))],
        { concurrency: "unbounded" }
      )
      expect(edVerdicts).toEqual(edBatch.map(() => true))
      blsVerdicts.forEach((verdicts, b) => expect(verdicts).toEqual(blsBatches[b]!.expected))
      yield* Scope.close(scope, Exit.void)
    })
  )
})

describe("BLS caches (per thread, bounded)", () => {
  it("a key set is decoded once per id; the aggregated key of a signer set is reused", () => {
    const keySet = { id: "cache-once", keys: committee.keySet.keys }
    const items = certificates(4, "cache").map((item) => ({ ...item, keySet }))
    const before = blsVerifyStats()
    expect(verifyHere(items).verdicts).toEqual([true, true, true, true])
    expect(verifyHere(items).verdicts).toEqual([true, true, true, true])
    const after = blsVerifyStats()
    expect(after.keySetDecodes - before.keySetDecodes).toBe(1)
    expect(after.aggregateMisses - before.aggregateMisses).toBe(4)
    expect(after.aggregateHits - before.aggregateHits).toBe(4)
  })

  it("the same id with other keys is decoded afresh: no stale verdict either way", () => {
    const other = makeCommittee("other", 16)
    const sameId = "reused-id"
    const mine = { ...certify(committee, [1, 2, 3], utf8("m")), keySet: { id: sameId, keys: committee.keySet.keys } }
    const theirs = { ...certify(other, [1, 2, 3], utf8("m")), keySet: { id: sameId, keys: other.keySet.keys } }
    // alternating calls, and both in one chunk
    expect(verifyHere([mine]).verdicts).toEqual([true])
    expect(verifyHere([theirs]).verdicts).toEqual([true])
    expect(verifyHere([{ ...mine, signature: theirs.signature }]).verdicts).toEqual([false])
    expect(verifyHere([mine, theirs, { ...theirs, keySet: mine.keySet }]).verdicts).toEqual([true, true, false])
  })

  it("every cache stays within its bound", () => {
    // 5,000 distinct signer sets of a 16-key committee with a signature that does not decode: each
    // reaches the aggregated-key cache and stops at the signature.
    const undecodable = new Uint8Array(96).fill(0xff)
    const items = Array.from({ length: 5_000 }, (_, i) => ({
      keySet: committee.keySet,
      signers: Uint8Array.of((i + 1) & 0xff, (i + 1) >> 8), // the 16-bit bitmap i + 1: all distinct
      message: utf8("m"),
      signature: undecodable
    }))
    const before = blsVerifyStats().aggregateMisses
    expect(verifyHere(items).verdicts.every((v) => !v)).toBe(true)
    expect(blsVerifyStats().aggregateMisses - before).toBeGreaterThanOrEqual(5_000 - 4_096)
    expect(blsVerifyStats().aggregates).toBe(4_096)

    for (let k = 0; k < 12; k++) verifyHere([{ ...items[0]!, keySet: withKey(committee.keySet, 0, committee.keySet.keys[0]!, `set ${k}`) }])
    expect(blsVerifyStats().keySets).toBe(8)
  })
})
