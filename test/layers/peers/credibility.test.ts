/**
 * Credibility and feelers (pure): an introducer becomes credible once the last `CREDIBLE_STREAK` of its
 * introductions that were dialled connected; a credible introducer's new peers skip probation, up to
 * `maxNewPerCredibleAnswer` per answer; the first of its introductions that fails ends its credibility
 * and drops every introduction of it never put to the test (the reached ones stay). Feelers test the
 * introducers with the most and the fewest untested introductions, enough at once for a verdict.
 */
import { describe, expect, it } from "@effect/vitest"
import { HashMap } from "effect"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { isCredible } from "../../../src/layers/peers/credibility.js"
import { dialFailed, dialSucceeded, markDialling, planDials } from "../../../src/layers/peers/connections.js"
import { chooseFeelers } from "../../../src/layers/peers/feelers.js"
import { admitIntroductions } from "../../../src/layers/peers/introductions.js"
import {
  CREDIBLE_STREAK,
  MAX_INFO_AGE_MS,
  MAX_NEW_PER_ANSWER,
  MAX_NEW_PER_CREDIBLE_ANSWER,
  MAX_NEW_PER_CREDIBLE_WINDOW,
  MAX_NEW_PER_WINDOW,
  MAX_UNPROVEN_PER_INTRODUCER,
  PROVEN_STREAK,
  UNPROVEN_PER_STREAK
} from "../../../src/layers/peers/policy.js"
import { seededRng } from "../../../src/layers/peers/prng.js"
import { servableNodeInfos } from "../../../src/layers/peers/ranking.js"
import { mergeNodeInfos, recordOf, reportOffence, updateRecord, type PeerTable } from "../../../src/layers/peers/table.js"
import { peerOf, signedInfo } from "../discovery/nodeInfos.js"
import { tableOf, withCredibleIntroducer } from "./fixtures.js"

const NOW = 10 * MAX_INFO_AGE_MS
const A = peerOf(1)
const B = peerOf(2)
const infos = (from: number, count: number, at = NOW) => Array.from({ length: count }, (_, i) => signedInfo(from + i, at))
const withIntroducers = (): PeerTable => mergeNodeInfos(tableOf(), [signedInfo(1, NOW), signedInfo(2, NOW)], NOW).table
const onProbation = (table: PeerTable, index: number): boolean => HashMap.has(table.probation, peerOf(index))
const credible = (table: PeerTable, peerId: PeerId): boolean => isCredible(recordOf(table, peerId)?.introductions)

/** A's introductions 100.. on probation, then the first `reached` of them dialled successfully. */
const withReached = (reached: number): PeerTable => {
  let table = mergeNodeInfos(withIntroducers(), infos(100, reached + 1), NOW, A).table
  for (let i = 0; i < reached; i++) table = dialSucceeded(table, peerOf(100 + i), `sim://${100 + i}`, 10, NOW).table
  return table
}

describe("credibility", () => {
  it(`comes with ${CREDIBLE_STREAK} reached introductions in a row, not before`, () => {
    expect(credible(withReached(CREDIBLE_STREAK - 1), A)).toBe(false)
    expect(credible(withReached(CREDIBLE_STREAK), A)).toBe(true)
  })

  it("lets a proven introducer's new peers skip probation, a credible one's more per answer", () => {
    const answer = infos(1_000, 200)
    // Credible, not proven: more per answer, but every new peer waits on probation.
    const justCredible = admitIntroductions(withReached(PROVEN_STREAK - 1), A, answer, NOW)
    const justNew = answer.filter((_, i) => justCredible.value[i] === "New")
    expect(justNew).toHaveLength(MAX_NEW_PER_CREDIBLE_ANSWER)
    expect(new Set(mergeNodeInfos(justCredible.table, justNew, NOW, A).value)).toEqual(new Set(["Probation"]))
    const table = withReached(PROVEN_STREAK + 2)
    const admitted = admitIntroductions(table, A, answer, NOW)
    const admittedNew = answer.filter((_, i) => admitted.value[i] === "New")
    expect(admittedNew).toHaveLength(MAX_NEW_PER_CREDIBLE_ANSWER)
    // Straight to the table while its unproven introductions are within 4 × its streak from
    // PROVEN_STREAK − 1; the rest wait. Its one introduction left on probation by `withReached` moved to
    // the table when it was proven, and counts.
    expect(recordOf(table, peerOf(100 + PROVEN_STREAK + 2))?.info).toBeDefined()
    const allowance = UNPROVEN_PER_STREAK * 3 - 1
    const merged = mergeNodeInfos(admitted.table, admittedNew, NOW, A)
    expect(merged.value).toEqual([...Array(allowance).fill("Inserted"), ...Array(admittedNew.length - allowance).fill("Probation")])
    expect(recordOf(merged.table, peerOf(1_000))?.introducedBy).toBe(A)
    // One of them reported by a second introducer that vouches (credible too) is no longer unproven:
    // room for one more.
    const vouching = admitIntroductions(withCredibleIntroducer(merged.table, B, NOW), B, [signedInfo(1_000, NOW + 1)], NOW).table
    const corroborated = mergeNodeInfos(vouching, [signedInfo(1_000, NOW + 1)], NOW, B)
    expect(recordOf(corroborated.table, peerOf(1_000))?.corroborated).toBe(true)
    expect(mergeNodeInfos(corroborated.table, [signedInfo(5_000, NOW)], NOW, A).value).toEqual(["Inserted"])
    expect(mergeNodeInfos(merged.table, [signedInfo(5_000, NOW)], NOW, A).value).toEqual(["Probation"])
    // Not credible: the ordinary budget, and probation.
    const plain = admitIntroductions(withIntroducers(), B, answer, NOW)
    expect(plain.value.filter((v) => v === "New")).toHaveLength(MAX_NEW_PER_ANSWER)
    expect(mergeNodeInfos(plain.table, answer.slice(0, 3), NOW, B).value).toEqual(["Probation", "Probation", "Probation"])
  })

  it("moves a proven introducer's introductions waiting on probation into the table as its streak grows, within its allowance", () => {
    let table = mergeNodeInfos(withIntroducers(), infos(100, 30), NOW, A).table
    const waiting = (t: PeerTable) => [...HashMap.values(t.probation)].filter((e) => e.introducedBy === A).map((e) => e.info.info.peerId).sort()
    const unprovenInTable = (t: PeerTable) =>
      [...HashMap.values(t.peers)].filter((r) => r.introducedBy === A && r.successes === 0 && r.connection._tag !== "Connected").length
    const reachNext = (t: PeerTable) => {
      const next = waiting(t)[0] as PeerId
      return dialSucceeded(markDialling(t, next, NOW), next, `sim://${next}`, 10, NOW).table
    }
    for (let k = 1; k < PROVEN_STREAK; k++) table = reachNext(table)
    expect(unprovenInTable(table)).toBe(0) // credible, not proven: everything else still waits
    expect(waiting(table)).toHaveLength(30 - (PROVEN_STREAK - 1))
    table = reachNext(table)
    expect(unprovenInTable(table)).toBe(UNPROVEN_PER_STREAK) // proven: its allowance moved at once
    expect(waiting(table)).toHaveLength(30 - PROVEN_STREAK - UNPROVEN_PER_STREAK)
    table = reachNext(table)
    expect(unprovenInTable(table)).toBe(2 * UNPROVEN_PER_STREAK)
    // The moved ones are its introductions, untried: its first failure drops them all again.
    const failed = dialFailed(markDialling(table, waiting(table)[0] as PeerId, NOW), waiting(table)[0] as PeerId, NOW + 1_000).table
    expect(unprovenInTable(failed)).toBe(0)
  })

  it("moves what a proven introducer reported after another introducer too, after its own, as its introductions", () => {
    // A (never judged) put 100..109 on probation; B repeated 105 while nobody believed B.
    let table = mergeNodeInfos(withIntroducers(), infos(100, 10), NOW, A).table
    table = mergeNodeInfos(table, [signedInfo(105, NOW)], NOW, B).table
    expect(HashMap.unsafeGet(table.probation, peerOf(105)).reportedBy).toEqual([B])
    // B's own introductions 200..206, reached one after another: proven at the sixth.
    table = mergeNodeInfos(table, infos(200, PROVEN_STREAK + 1), NOW, B).table
    for (let i = 0; i < PROVEN_STREAK; i++) table = dialSucceeded(markDialling(table, peerOf(200 + i), NOW), peerOf(200 + i), `sim://${200 + i}`, 10, NOW).table
    // Its allowance (4) took its own waiting introduction first, then what it reported: 105, now B's.
    expect(recordOf(table, peerOf(200 + PROVEN_STREAK))?.introducedBy).toBe(B)
    expect(recordOf(table, peerOf(105))?.introducedBy).toBe(B)
    expect(onProbation(table, 104)).toBe(true) // A's other introductions still wait
    // B's first failure drops both again.
    const failed = dialFailed(markDialling(table, peerOf(104), NOW), peerOf(104), NOW).table
    expect(recordOf(failed, peerOf(105))).toBeDefined() // A's failure does not touch B's
    const bFails = dialFailed(markDialling(table, peerOf(105), NOW), peerOf(105), NOW).table
    expect(recordOf(bFails, peerOf(200 + PROVEN_STREAK))).toBeUndefined()
  })

  it(`never lets an introducer keep more than ${MAX_UNPROVEN_PER_INTRODUCER} unproven introductions in the table, however long its streak`, () => {
    let table = withReached(PROVEN_STREAK + 20)
    const unproven = [...HashMap.values(table.peers)].filter((r) => r.introducedBy === A && r.successes === 0).length
    expect(unproven).toBe(1) // its one introduction that waited moved in when it was proven
    const merged = mergeNodeInfos(table, infos(5_000, 50), NOW, A)
    expect(merged.value.filter((v) => v === "Inserted")).toHaveLength(MAX_UNPROVEN_PER_INTRODUCER - 1)
    table = merged.table
    expect(mergeNodeInfos(table, infos(6_000, 1), NOW, A).value).toEqual(["Probation"])
  })

  it(`may introduce more than ${MAX_NEW_PER_WINDOW} new peers in a window while credible, not otherwise`, () => {
    const ANSWERS = Math.floor(MAX_NEW_PER_CREDIBLE_WINDOW / MAX_NEW_PER_CREDIBLE_ANSWER) // within the credible window
    expect(ANSWERS * MAX_NEW_PER_CREDIBLE_ANSWER).toBeGreaterThan(MAX_NEW_PER_WINDOW)
    const newOver = (start: PeerTable, introducer: PeerId) => {
      let table = start
      let admitted = 0
      for (let k = 0; k < ANSWERS; k++) {
        const step = admitIntroductions(table, introducer, infos(10_000 + k * 200, 200), NOW + k * 1_000)
        admitted += step.value.filter((v) => v === "New").length
        table = step.table
      }
      return admitted
    }
    expect(newOver(withReached(CREDIBLE_STREAK), A)).toBe(ANSWERS * MAX_NEW_PER_CREDIBLE_ANSWER)
    expect(newOver(withIntroducers(), B)).toBe(MAX_NEW_PER_WINDOW)
  })

  it("ends at the first introduction that fails, dropping every untested introduction and keeping the reached ones", () => {
    const table = withReached(PROVEN_STREAK + 2)
    const allowance = UNPROVEN_PER_STREAK * 3
    const fakes = infos(2_000, 30)
    const stored = mergeNodeInfos(table, fakes, NOW, A).table
    expect(recordOf(stored, peerOf(2_000))).toBeDefined()
    expect(onProbation(stored, 2_000 + allowance)).toBe(true)
    const failed = dialFailed(markDialling(stored, peerOf(2_000), NOW), peerOf(2_000), NOW + 1_000)
    expect(credible(failed.table, A)).toBe(false)
    for (let i = 2_001; i < 2_030; i++) expect(recordOf(failed.table, peerOf(i))).toBeUndefined()
    for (let i = 2_001; i < 2_030; i++) expect(onProbation(failed.table, i)).toBe(false) // its probation entries too
    for (let i = 100; i < 100 + PROVEN_STREAK + 2; i++) expect(recordOf(failed.table, peerOf(i))?.info).toBeDefined()
    expect(failed.changes.filter((c) => c._tag === "PeerForgotten" && c.reason === "Discredited")).toHaveLength(allowance - 1)
    // Its next introductions wait on probation again.
    expect(mergeNodeInfos(failed.table, [signedInfo(3_000, NOW)], NOW, A).value).toEqual(["Probation"])
  })

  it(`serves a credible introducer's untested introductions once it is proven (${PROVEN_STREAK} in a row) while it stays credible, never after`, () => {
    const served = (t: PeerTable) => new Set(servableNodeInfos(t, NOW + 1_000, { exclude: undefined, minRemainingMs: 0, limit: 1_000 }).map((s) => s.info.peerId))
    // Credible, not proven: its word promotes what B put on probation (its own introduction now), unserved.
    const young = mergeNodeInfos(mergeNodeInfos(withReached(PROVEN_STREAK - 1), infos(2_000, 2), NOW, B).table, infos(2_000, 2), NOW, A).table
    expect(recordOf(young, peerOf(2_001))?.introducedBy).toBe(A)
    expect(served(young).has(peerOf(2_001))).toBe(false)
    const stored = mergeNodeInfos(withReached(PROVEN_STREAK), infos(2_000, 2), NOW, A).table
    expect(served(stored).has(peerOf(2_001))).toBe(true)
    // The same peers from an introducer that is not credible wait on probation: never served.
    const plain = mergeNodeInfos(withIntroducers(), infos(2_000, 2), NOW, A).table
    expect(served(plain).has(peerOf(2_001))).toBe(false)
    // One of them fails: A is discredited, the other is dropped and no longer served.
    const failed = dialFailed(markDialling(stored, peerOf(2_000), NOW), peerOf(2_000), NOW + 1_000).table
    expect(served(failed).has(peerOf(2_001))).toBe(false)
  })

  it("a credible second introducer's report of a peer already in the table corroborates it, even with the copy we hold", () => {
    // Peer 2,000 came from A while A was credible: in the table, unconfirmed.
    const stored = mergeNodeInfos(withReached(PROVEN_STREAK), infos(2_000, 1), NOW, A).table
    expect(recordOf(stored, peerOf(2_000))?.corroborated).toBe(false)
    // B, not credible, repeats it: nothing changes.
    expect(recordOf(admitIntroductions(stored, B, infos(2_000, 1), NOW).table, peerOf(2_000))?.corroborated).toBe(false)
    // B, credible, repeats the very same NodeInfo (not newer, so not re-verified): a second credible voice.
    const admitted = admitIntroductions(withCredibleIntroducer(stored, B, NOW), B, infos(2_000, 1), NOW)
    expect(admitted.value).toEqual(["NotNewer"])
    expect(recordOf(admitted.table, peerOf(2_000))?.corroborated).toBe(true)
  })

  it("drops a banned introducer's untested introductions from the table", () => {
    const table = mergeNodeInfos(withReached(PROVEN_STREAK + 1), infos(2_000, 5), NOW, A).table
    let current = table
    for (let k = 0; k < 10 && !recordOf(current, A)?.bannedUntilMs; k++) current = reportOffence(current, A, "InvalidData", NOW).table
    expect(recordOf(current, peerOf(2_000))).toBeUndefined()
    expect(recordOf(current, peerOf(100))?.info).toBeDefined()
  })
})

describe("feelers", () => {
  it("test the introducer with the most untested introductions first, never a banned introducer's", () => {
    const table = mergeNodeInfos(mergeNodeInfos(withIntroducers(), infos(100, 3), NOW, A).table, infos(200, 6), NOW, B).table
    const one = chooseFeelers(table, NOW, 1, seededRng(1), new Set())
    expect(one).toHaveLength(1)
    const fromB = new Set(infos(200, 6).map((s) => s.info.peerId))
    expect(fromB.has(one[0]?.peerId as PeerId)).toBe(true)
    let banned = table
    for (let k = 0; k < 10; k++) banned = reportOffence(banned, B, "InvalidData", NOW).table
    expect(chooseFeelers(banned, NOW, 5, seededRng(1), new Set()).every((f) => !fromB.has(f.peerId))).toBe(true)
  })

  it(`give an introducer not yet judged ${CREDIBLE_STREAK} at once, a credible one the rest to ${PROVEN_STREAK}, a proven or discredited one a single feeler`, () => {
    const table = mergeNodeInfos(mergeNodeInfos(withIntroducers(), infos(100, 3), NOW, A).table, infos(200, 6), NOW, B).table
    const introducerOf = (peerId: PeerId) => HashMap.unsafeGet(table.probation, peerId).introducedBy
    const count = (chosen: ReadonlyArray<{ readonly peerId: PeerId }>, introducer: PeerId) => chosen.filter((f) => introducerOf(f.peerId) === introducer).length
    // Neither tested yet: a verdict on each within the round, the biggest first (distinct introductions).
    const fresh = chooseFeelers(table, NOW, 2 * CREDIBLE_STREAK, seededRng(1), new Set())
    expect([count(fresh, B), count(fresh, A)]).toEqual([CREDIBLE_STREAK, CREDIBLE_STREAK])
    expect(new Set(fresh.map((f) => f.peerId)).size).toBe(fresh.length)
    // B one success into its streak: the rest of it.
    const started = dialSucceeded(table, peerOf(200), "sim://200", 10, NOW).table
    expect(count(chooseFeelers(started, NOW, 2 * CREDIBLE_STREAK, seededRng(1), new Set()), B)).toBe(CREDIBLE_STREAK - 1)
    // Credible: the rest of its streak to PROVEN_STREAK (a lucky liar is found out). Proven: one.
    // Discredited (its failure outweighs its successes): one.
    expect(count(chooseFeelers(withCredibleIntroducer(table, B, NOW), NOW, 2 * CREDIBLE_STREAK, seededRng(1), new Set()), B)).toBe(
      PROVEN_STREAK - CREDIBLE_STREAK
    )
    const proven = updateRecord(table, B, (r) => ({ ...r, introductions: { ...r.introductions, connected: PROVEN_STREAK, streak: PROVEN_STREAK } }))
    expect(count(chooseFeelers(proven, NOW, 2 * CREDIBLE_STREAK, seededRng(1), new Set()), B)).toBe(1)
    const failed = dialFailed(table, peerOf(200), NOW).table
    expect(count(chooseFeelers(failed, NOW, 2 * CREDIBLE_STREAK, seededRng(1), new Set()), B)).toBe(1)
  })

  it("test a credible introducer not yet proven first, however few its untested introductions", () => {
    // A has three untested introductions, B six; A is credible (not proven), B not yet judged.
    const table = withCredibleIntroducer(mergeNodeInfos(mergeNodeInfos(withIntroducers(), infos(100, 3), NOW, A).table, infos(200, 6), NOW, B).table, A, NOW)
    const introducerOf = (peerId: PeerId) => HashMap.unsafeGet(table.probation, peerId).introducedBy
    for (let seed = 1; seed <= 5; seed++) {
      expect(chooseFeelers(table, NOW, 3, seededRng(seed), new Set()).map((f) => introducerOf(f.peerId))).toEqual([A, A, A])
    }
    // Proven, it goes back among the others: B's bigger bucket first.
    const proven = updateRecord(table, A, (r) => ({ ...r, introductions: { ...r.introductions, connected: PROVEN_STREAK, streak: PROVEN_STREAK } }))
    expect(chooseFeelers(proven, NOW, 1, seededRng(1), new Set()).map((f) => introducerOf(f.peerId))).toEqual([B])
  })

  it("split between the introducers with the most untested introductions and those with the fewest", () => {
    const C = peerOf(3)
    let table = mergeNodeInfos(tableOf(), [signedInfo(1, NOW), signedInfo(2, NOW), signedInfo(3, NOW)], NOW).table
    table = mergeNodeInfos(table, infos(100, 3), NOW, A).table
    table = mergeNodeInfos(table, infos(200, 6), NOW, B).table
    table = mergeNodeInfos(table, infos(300, 1), NOW, C).table
    const introducerOf = (peerId: PeerId) => HashMap.unsafeGet(table.probation, peerId).introducedBy
    // B discredited (a single feeler: its quota): two feelers are B's flood (five left) and the one peer
    // only C told us of (not A's three in between).
    const discreditedB = dialFailed(table, peerOf(200), NOW).table
    for (let seed = 1; seed <= 5; seed++) {
      expect(chooseFeelers(discreditedB, NOW, 2, seededRng(seed), new Set()).map((f) => introducerOf(f.peerId))).toEqual([B, C])
    }
    // B not yet judged takes its quota first; then A, the next biggest (of the first half of introducers).
    expect(chooseFeelers(table, NOW, CREDIBLE_STREAK + 1, seededRng(1), new Set()).map((f) => introducerOf(f.peerId))).toEqual([
      ...Array(CREDIBLE_STREAK).fill(B),
      A
    ])
  })

  it("are planned only with a connection, and mark their probation entries as being dialled", () => {
    const table = mergeNodeInfos(withIntroducers(), infos(100, CREDIBLE_STREAK + 1), NOW, A).table
    const request = { target: 8, wanted: 0, rotationProbability: 0, rng: seededRng(3) }
    const isolated = planDials(table, NOW, { ...request, connectedCount: 0 })
    expect(isolated.value.filter((o) => o.purpose === "Feeler")).toEqual([])
    const atTarget = planDials(table, NOW, { ...request, connectedCount: 8 })
    const feelers = atTarget.value.filter((o) => o.purpose === "Feeler")
    expect(feelers).toHaveLength(CREDIBLE_STREAK)
    for (const feeler of feelers) expect(HashMap.unsafeGet(atTarget.table.probation, feeler.peerId).diallingSinceMs).toBe(NOW)
    // Being dialled, they are not chosen again: the one left is.
    const next = chooseFeelers(atTarget.table, NOW, 5, seededRng(3), new Set())
    expect(next).toHaveLength(1)
    expect(feelers.map((f) => f.peerId)).not.toContain(next[0]?.peerId)
  })
})
