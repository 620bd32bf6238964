import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import {
  addVote,
  emptyStake,
  quorumThreshold,
  reachesQuorum,
  reachesValidity,
  stakeOf,
  totalStake,
  validityThreshold,
  type Authority,
  type Committee
} from "../../src/domain/committee.js"

const authority = (stake: number): Authority => ({
  stake,
  protocolKey: new Uint8Array(32),
  networkKey: new Uint8Array(32),
  authorityKey: new Uint8Array(48),
  authorityKeyProof: new Uint8Array(96),
  address: "",
  hostname: ""
})
const committeeOf = (stakes: ReadonlyArray<number>): Committee => ({ epoch: 0, authorities: stakes.map(authority) })

describe("committee thresholds come from the actual total stake", () => {
  it("equal stakes: 4 validators of 1 need 3 for quorum and 2 for validity", () => {
    const c = committeeOf([1, 1, 1, 1])
    expect(quorumThreshold(c)).toBe(3)
    expect(validityThreshold(c)).toBe(2)
    expect(reachesQuorum(c, [0, 1])).toBe(false)
    expect(reachesQuorum(c, [0, 1, 2])).toBe(true)
    expect(reachesValidity(c, [3])).toBe(false)
    expect(reachesValidity(c, [2, 3])).toBe(true)
  })

  it("un-normalised stakes reach quorum (Soma's fixed 6,667 never would for a total of 100)", () => {
    const c = committeeOf([25, 25, 25, 25])
    expect(totalStake(c)).toBe(100)
    expect(quorumThreshold(c)).toBe(67)
    expect(reachesQuorum(c, [0, 1, 2])).toBe(true)
  })

  it("unequal stakes: one whale alone is not a quorum but is validity", () => {
    const c = committeeOf([60, 10, 10, 10, 10])
    expect(quorumThreshold(c)).toBe(67)
    expect(validityThreshold(c)).toBe(34)
    expect(reachesQuorum(c, [0])).toBe(false)
    expect(reachesValidity(c, [0])).toBe(true)
    expect(reachesQuorum(c, [0, 1])).toBe(true)
    expect(reachesQuorum(c, [1, 2, 3, 4])).toBe(false)
  })

  it("duplicate authors and unknown indices add nothing", () => {
    const c = committeeOf([1, 1, 1, 1])
    expect(stakeOf(c, [0, 0, 0, 0, 0])).toBe(1)
    expect(stakeOf(c, [0, 4, 99, -1, 1.5])).toBe(1)
    expect(reachesQuorum(c, [0, 0, 1, 1, 7, 8, 9])).toBe(false)
    let agg = emptyStake
    for (const a of [0, 0, 1, 9, 1]) agg = addVote(c, agg, a)
    expect(agg.stake).toBe(2)
    expect([...agg.authors].sort()).toEqual([0, 1])
  })

  it("the aggregator and stakeOf agree on any vote sequence", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: -2, max: 40 }), { maxLength: 80 }),
        (stakes, votes) => {
          const c = committeeOf(stakes)
          const agg = votes.reduce((acc, v) => addVote(c, acc, v), emptyStake)
          expect(agg.stake).toBe(stakeOf(c, votes))
        }
      )
    )
  })

  it("any two quorums intersect in an honest author when the faulty stake is below validity (f < n/3)", () => {
    // A committee, a set of faulty authors whose stake is below the validity threshold, and two subsets
    // that each reach quorum: they must share an author outside the faulty set.
    const scenario = fc
      .array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 16 })
      .chain((stakes) => {
        const n = stakes.length
        const subset = fc.subarray(Array.from({ length: n }, (_, i) => i))
        return fc.tuple(fc.constant(stakes), subset, subset, subset)
      })
    fc.assert(
      fc.property(scenario, ([stakes, faulty, a, b]) => {
        const c = committeeOf(stakes)
        fc.pre(stakeOf(c, faulty) < validityThreshold(c))
        fc.pre(reachesQuorum(c, a) && reachesQuorum(c, b))
        const faultySet = new Set(faulty)
        const inB = new Set(b)
        expect(a.some((x) => inB.has(x) && !faultySet.has(x))).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })

  it("a quorum and a validity set always share an author", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 16 }).chain((stakes) => {
          const idx = Array.from({ length: stakes.length }, (_, i) => i)
          return fc.tuple(fc.constant(stakes), fc.subarray(idx), fc.subarray(idx))
        }),
        ([stakes, q, v]) => {
          const c = committeeOf(stakes)
          fc.pre(reachesQuorum(c, q) && reachesValidity(c, v))
          const inQ = new Set(q)
          expect(v.some((x) => inQ.has(x))).toBe(true)
        }
      ),
      { numRuns: 2000 }
    )
  })
})
