/**
 * Probation (pure): a peer introduced by a responder waits outside the table — never served, never
 * counted as known — until a second, distinct introducer reports it or a dial of it succeeds; a failed
 * dial drops it and counts against its introducer; the set is bounded per introducer and in all, and a
 * full set makes room with the introducer's own oldest entries, never another source's.
 */
import { describe, expect, it } from "@effect/vitest"
import { HashMap } from "effect"
import * as fc from "fast-check"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { dialFailed, dialSucceeded, markDialling, planDials } from "../../../src/layers/peers/connections.js"
import { isCredible } from "../../../src/layers/peers/credibility.js"
import { admitIntroductions } from "../../../src/layers/peers/introductions.js"
import { INTRODUCTION_CHARGE_EVERY, MAX_INFO_AGE_MS } from "../../../src/layers/peers/policy.js"
import { addToProbation, bucketsOf, type Probation, type ProbationEntry } from "../../../src/layers/peers/probation.js"
import { seededRng } from "../../../src/layers/peers/prng.js"
import { servableNodeInfos } from "../../../src/layers/peers/ranking.js"
import { isBannedAt } from "../../../src/layers/peers/reputation.js"
import { mergeNodeInfos, recordOf, reportOffence, type PeerTable } from "../../../src/layers/peers/table.js"
import { peerOf, signedInfo } from "../discovery/nodeInfos.js"
import { tableOf } from "./fixtures.js"

const NOW = 10 * MAX_INFO_AGE_MS
const A = peerOf(1)
const B = peerOf(2)
const infos = (from: number, count: number, at = NOW) => Array.from({ length: count }, (_, i) => signedInfo(from + i, at))
const onProbation = (table: PeerTable, index: number): boolean => HashMap.has(table.probation, peerOf(index))
/** Node 0's table knowing introducers 1 and 2 by their own NodeInfos. */
const withIntroducers = (): PeerTable => mergeNodeInfos(tableOf(), [signedInfo(1, NOW), signedInfo(2, NOW)], NOW).table
const plan = (table: PeerTable, connectedCount: number, target: number, seed = 1) =>
  planDials(table, NOW, { connectedCount, target, wanted: 0, rotationProbability: 0, rng: seededRng(seed) })

describe("probation", () => {
  it("keeps an introduced peer out of the table, the served sample and the admitted-as-known set", () => {
    const table = mergeNodeInfos(withIntroducers(), infos(100, 5), NOW, A)
    expect(table.value).toEqual(Array(5).fill("Probation"))
    expect(table.changes).toEqual([])
    for (let i = 100; i < 105; i++) {
      expect(recordOf(table.table, peerOf(i))).toBeUndefined()
      expect(onProbation(table.table, i)).toBe(true)
    }
    const served = servableNodeInfos(table.table, NOW, { exclude: undefined, minRemainingMs: 0, limit: 200 }).map((s) => s.info.peerId)
    expect(served.sort()).toEqual([A, B].sort())
    // The same introducer again: nothing new to charge or promote; a newer info is a refresh.
    const again = admitIntroductions(table.table, A, [signedInfo(100, NOW), signedInfo(101, NOW + 1)], NOW)
    expect(again.value).toEqual(["NotNewer", "Refresh"])
    const merged = mergeNodeInfos(table.table, [signedInfo(101, NOW + 1)], NOW, A)
    expect(merged.value).toEqual(["Probation"])
    expect(recordOf(merged.table, peerOf(101))).toBeUndefined()
  })

  it("promotes a peer that a second, credible introducer reports, with the newest info", () => {
    // B is credible: three peers it introduced were reached by dials.
    let first = mergeNodeInfos(withIntroducers(), infos(300, 3), NOW, B).table
    for (let i = 300; i < 303; i++) first = dialSucceeded(first, peerOf(i), `sim://${i}`, 10, NOW).table
    first = mergeNodeInfos(first, [signedInfo(100, NOW + 5)], NOW, A).table
    const admitted = admitIntroductions(first, B, [signedInfo(100, NOW)], NOW)
    expect(admitted.value).toEqual(["New"]) // an older copy than the one held: a different NodeInfo, checked
    const second = mergeNodeInfos(admitted.table, [signedInfo(100, NOW)], NOW + 1_000, B)
    expect(second.value).toEqual(["Inserted"])
    expect(second.changes.map((c) => c._tag)).toEqual(["PeerDiscovered"])
    const record = recordOf(second.table, peerOf(100))
    expect(record?.info?.info.timestampMs).toBe(NOW + 5)
    // A is not credible: B's word alone promoted it, so it is B's introduction, not corroborated.
    expect(record?.introducedBy).toBe(B)
    expect(record?.firstSeenMs).toBe(NOW)
    expect(record?.corroborated).toBe(false)
    expect(onProbation(second.table, 100)).toBe(false)
    // B is discredited (one of its introductions fails): the peer it promoted, never reached, goes with it.
    const fresh = mergeNodeInfos(second.table, [signedInfo(400, NOW)], NOW, B).table // on probation (B not proven)
    const discredited = dialFailed(markDialling(fresh, peerOf(400), NOW), peerOf(400), NOW + 2_000).table
    expect(isCredible(recordOf(discredited, B)?.introductions)).toBe(false)
    expect(recordOf(discredited, peerOf(100))).toBeUndefined()
  })

  it("marks a peer corroborated when two credible introducers report it", () => {
    let first = mergeNodeInfos(withIntroducers(), infos(300, 3), NOW, B).table
    for (let i = 300; i < 303; i++) first = dialSucceeded(first, peerOf(i), `sim://${i}`, 10, NOW).table
    first = mergeNodeInfos(first, infos(310, 4), NOW, A).table
    for (let i = 310; i < 313; i++) first = dialSucceeded(first, peerOf(i), `sim://${i}`, 10, NOW).table
    // Both credible now; A's last introduction (313) waits on probation, and B reports it too.
    const second = mergeNodeInfos(first, [signedInfo(313, NOW)], NOW, B)
    expect(recordOf(second.table, peerOf(313))?.introducedBy).toBe(A)
    expect(recordOf(second.table, peerOf(313))?.corroborated).toBe(true)
  })

  it("does not promote on the word of two introducers that are not credible, however much of their answers we know (colluding liars)", () => {
    // Node 0 already knows peers 10..109; each liar's answer repeats them (half the answer: the overlap a
    // liar gets by relaying its fellow attackers or peers it learnt) and adds the same 100 fakes.
    let table = mergeNodeInfos(withIntroducers(), infos(10, 100), NOW).table
    const answer = [...infos(10, 100), ...infos(1_000, 100)]
    for (const liar of [A, B]) {
      const admitted = admitIntroductions(table, liar, answer, NOW)
      const verified = answer.filter((_, i) => admitted.value[i] === "New" || admitted.value[i] === "Corroborates")
      expect(verified.length).toBeGreaterThan(0)
      table = mergeNodeInfos(admitted.table, verified, NOW, liar).table
    }
    for (let i = 1_000; i < 1_100; i++) expect(recordOf(table, peerOf(i))).toBeUndefined()
    expect(HashMap.size(table.probation)).toBeGreaterThan(0)
  })

  it("dials probation peers when the table has too few candidates, and promotes one that connects", () => {
    const table = mergeNodeInfos(tableOf(), infos(100, 3), NOW, A).table
    const dials = plan(table, 0, 2)
    expect(dials.value).toHaveLength(2)
    const dialled = dials.value[0]?.peerId as PeerId
    expect(HashMap.unsafeGet(dials.table.probation, dialled).diallingSinceMs).toBe(NOW)
    // Already dialling: the next plan does not dial it again, and counts it in flight.
    expect(plan(dials.table, 0, 3).value.map((o) => o.peerId)).not.toContain(dialled)
    const connected = dialSucceeded(dials.table, dialled, "sim://x", 10, NOW)
    const record = recordOf(connected.table, dialled)
    expect(record?.info).toBeDefined()
    expect(record?.connection._tag).toBe("Connected")
    expect(HashMap.has(connected.table.probation, dialled)).toBe(false)
    expect(recordOf(connected.table, A)?.introductions.connected).toBe(1)
  })

  it("prefers table peers: probation is dialled only for the slots the table cannot fill", () => {
    const table = mergeNodeInfos(mergeNodeInfos(tableOf(), infos(50, 4), NOW).table, infos(100, 10), NOW, A).table
    const dials = plan(table, 0, 6).value.map((o) => o.peerId)
    expect(dials).toHaveLength(6)
    expect(dials.filter((p) => HashMap.has(table.probation, p))).toHaveLength(2)
  })

  it("drops a probation peer whose dial fails and charges its introducer, until it is banned", () => {
    // The introducer is not in the table (no table candidates): every dial goes to its introductions.
    let table = mergeNodeInfos(tableOf(), infos(100, 30), NOW, A).table
    let banned = false
    for (let round = 0; round < 30 && !banned; round++) {
      const dials = plan(table, 0, 1, round)
      const order = dials.value[0]
      if (order === undefined) break
      const failed = dialFailed(dials.table, order.peerId, NOW)
      expect(HashMap.has(failed.table.probation, order.peerId)).toBe(false)
      expect(recordOf(failed.table, order.peerId)).toBeUndefined()
      table = failed.table
      banned = failed.value
    }
    const introducer = recordOf(table, A)
    expect(introducer?.introductions.failed).toBeGreaterThanOrEqual(INTRODUCTION_CHARGE_EVERY)
    expect(introducer?.lastOffence).toBe("FailedIntroductions")
    expect(banned).toBe(true)
    expect(isBannedAt(introducer!, NOW)).toBe(true)
    // A banned introducer's remaining introductions are gone too.
    expect(Array.from(HashMap.values(table.probation)).filter((e) => e.introducedBy === A)).toEqual([])
  })

  it("drops a banned introducer's introductions", () => {
    let table = mergeNodeInfos(withIntroducers(), infos(100, 5), NOW, A).table
    table = mergeNodeInfos(table, infos(200, 5), NOW, B).table
    const banned = reportOffence(table, A, "InvalidData", NOW)
    expect(banned.value).toBe(true)
    expect(HashMap.size(banned.table.probation)).toBe(5)
    expect(Array.from(HashMap.values(banned.table.probation)).every((e) => e.introducedBy === B)).toBe(true)
  })

  it("bounds each introducer: its newest introductions push out its own oldest", () => {
    let table = withIntroducers()
    table = mergeNodeInfos(table, infos(500, 5), NOW, B).table
    for (let answer = 0; answer < 10; answer++) table = mergeNodeInfos(table, infos(1_000 + answer * 20, 20), NOW + answer, A).table
    const buckets = bucketsOf(table.probation)
    expect(buckets.get(A)).toHaveLength(table.policy.maxProbationPerIntroducer)
    expect(buckets.get(B)).toHaveLength(5)
    expect(Math.min(...(buckets.get(A) ?? []).map((e) => e.firstSeenMs))).toBeGreaterThanOrEqual(NOW + 8)
  })
})

describe("addToProbation (property)", () => {
  const bounds = { perIntroducer: 4, total: 10 }
  const entry = (introducer: number, id: number, at: number): ProbationEntry => ({
    info: signedInfo(id, NOW),
    introducedBy: peerOf(introducer),
    firstSeenMs: at,
    diallingSinceMs: undefined,
    reportedBy: []
  })

  it("stays within both bounds, and never drops another source's entry while the introducer holds any", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 100, max: 160 })), { maxLength: 60 }), (adds) => {
        let probation: Probation = HashMap.empty()
        adds.forEach(([introducer, id], step) => {
          if (HashMap.has(probation, peerOf(id))) return
          const ownBefore = bucketsOf(probation).get(peerOf(introducer))?.length ?? 0
          const result = addToProbation(probation, entry(introducer, id, step), bounds)
          for (const dropped of result.dropped) {
            const victim = HashMap.unsafeGet(probation, dropped)
            if (ownBefore > 0) expect(victim.introducedBy).toBe(peerOf(introducer))
          }
          probation = result.probation
          expect(HashMap.has(probation, peerOf(id))).toBe(true)
          expect(HashMap.size(probation)).toBeLessThanOrEqual(bounds.total)
          for (const bucket of bucketsOf(probation).values()) expect(bucket.length).toBeLessThanOrEqual(bounds.perIntroducer)
        })
      }),
      { numRuns: 100 }
    )
  })
})
