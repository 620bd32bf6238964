/**
 * Introductions (pure): a responder may introduce a budget of new peers per answer and per window, the
 * window's budget shrinks when its introductions fail to connect, and an introducer whose introductions
 * keep failing is charged `FailedIntroductions` until it is banned — while one whose introductions
 * connect is never charged.
 */
import { describe, expect, it } from "@effect/vitest"
import { dialFailed, dialSucceeded, markDialling } from "../../../src/layers/peers/connections.js"
import { admitIntroductions, remainingBudget } from "../../../src/layers/peers/introductions.js"
import { INTRODUCTION_WINDOW_MS, MAX_INFO_AGE_MS, MAX_NEW_PER_ANSWER, MAX_NEW_PER_WINDOW } from "../../../src/layers/peers/policy.js"
import { isBannedAt } from "../../../src/layers/peers/reputation.js"
import { mergeNodeInfos, recordOf, type PeerTable } from "../../../src/layers/peers/table.js"
import type { PeerRecord } from "../../../src/services/PeerManager.js"
import { peerOf, signedInfo } from "../discovery/nodeInfos.js"
import { tableOf } from "./fixtures.js"

const NOW = 10 * MAX_INFO_AGE_MS
const INTRODUCER = 1
const record = (table: PeerTable, index: number): PeerRecord => {
  const found = recordOf(table, peerOf(index))
  if (found === undefined) throw new Error(`no record of node ${index}`)
  return found
}
/** Infos of nodes `from`, `from + 1`, … (`count` of them). */
const infos = (from: number, count: number, at = NOW) => Array.from({ length: count }, (_, i) => signedInfo(from + i, at))

describe("admitIntroductions", () => {
  it("a second introducer of peers on probation corroborates them without a signature check, but within its budget", () => {
    const SECOND = 2
    const known = mergeNodeInfos(tableOf(), [signedInfo(INTRODUCER, NOW), signedInfo(SECOND, NOW)], NOW).table
    // The first introducer's 30 peers wait on probation (it is not credible).
    const table = mergeNodeInfos(known, infos(100, 30), NOW, peerOf(INTRODUCER)).table
    expect(record(table, SECOND).introductions.inWindow).toBe(0)
    // Corroborations spend the answer's budget like new peers: free ones let one colluding liar promote
    // another's whole probation bucket in one answer (measured: 150 minted identities in one honest
    // table of a 200-node network, honest share 0.51 instead of 0.90).
    const answer = [...infos(100, 30), ...infos(500, 30)]
    const { table: after, value } = admitIntroductions(table, peerOf(SECOND), answer, NOW)
    expect(value.slice(0, MAX_NEW_PER_ANSWER).every((a) => a === "Corroborates")).toBe(true)
    expect(value.slice(MAX_NEW_PER_ANSWER).every((a) => a === "OverBudget")).toBe(true)
    expect(record(after, SECOND).introductions.inWindow).toBe(MAX_NEW_PER_ANSWER)
    // New peers first in an answer take the budget before corroborations do: the answer's order decides.
    const mixed = admitIntroductions(table, peerOf(SECOND), [...infos(500, 10), ...infos(100, 30)], NOW).value
    expect(mixed.slice(0, 10).every((a) => a === "New")).toBe(true)
    expect(mixed.slice(10, MAX_NEW_PER_ANSWER).every((a) => a === "Corroborates")).toBe(true)
    expect(mixed.slice(MAX_NEW_PER_ANSWER).every((a) => a === "OverBudget")).toBe(true)
    // A newer NodeInfo of a peer on probation is work (a signature to check): charged as new.
    const newer = admitIntroductions(table, peerOf(SECOND), [signedInfo(100, NOW + 1)], NOW + 1)
    expect(newer.value).toEqual(["New"])
  })

  it("admits at most the per-answer budget of new peers, in the answer's order, and always a known peer's newer info", () => {
    const table = mergeNodeInfos(tableOf(), [signedInfo(INTRODUCER, NOW), signedInfo(5, NOW - 10)], NOW).table
    const answer = [signedInfo(5, NOW), signedInfo(5, NOW - 20), ...infos(100, 30)]
    const { table: after, value } = admitIntroductions(table, peerOf(INTRODUCER), answer, NOW)
    expect(value.slice(0, 2)).toEqual(["Refresh", "NotNewer"])
    expect(value.slice(2, 2 + MAX_NEW_PER_ANSWER).every((a) => a === "New")).toBe(true)
    expect(value.slice(2 + MAX_NEW_PER_ANSWER).every((a) => a === "OverBudget")).toBe(true)
    expect(record(after, INTRODUCER).introductions.inWindow).toBe(MAX_NEW_PER_ANSWER)
  })

  it("spends the window's budget over answers, and gives it back when the window turns", () => {
    let table = mergeNodeInfos(tableOf(), [signedInfo(INTRODUCER, NOW)], NOW).table
    let admitted = 0
    for (let answer = 0; answer < MAX_NEW_PER_WINDOW / MAX_NEW_PER_ANSWER + 3; answer++) {
      const step = admitIntroductions(table, peerOf(INTRODUCER), infos(1_000 + answer * 100, 50), NOW + answer)
      table = step.table
      admitted += step.value.filter((a) => a === "New").length
    }
    expect(admitted).toBe(MAX_NEW_PER_WINDOW)
    const later = admitIntroductions(table, peerOf(INTRODUCER), infos(9_000, 50), NOW + INTRODUCTION_WINDOW_MS)
    expect(later.value.filter((a) => a === "New")).toHaveLength(MAX_NEW_PER_ANSWER)
  })
})

/** Introducer 1 introduces `count` peers from `from`; each is dialled once, connecting if `connects(i)`. */
const introduceAndDial = (table: PeerTable, from: number, count: number, connects: (i: number) => boolean, atMs = NOW): PeerTable => {
  let current = mergeNodeInfos(table, infos(from, count), atMs, peerOf(INTRODUCER)).table
  for (let i = from; i < from + count; i++) {
    current = markDialling(current, peerOf(i), atMs)
    current = connects(i) ? dialSucceeded(current, peerOf(i), `sim://${i}`, 10, atMs).table : dialFailed(current, peerOf(i), atMs).table
  }
  return current
}

describe("introducers whose introductions never connect", () => {
  it("are charged FailedIntroductions, see their budget shrink, and end up banned", () => {
    const start = mergeNodeInfos(tableOf(), [signedInfo(INTRODUCER, NOW)], NOW).table
    const after10 = introduceAndDial(start, 100, 10, () => false)
    const stats = record(after10, INTRODUCER).introductions
    expect([stats.connected, stats.failed]).toEqual([0, 10])
    expect(record(after10, INTRODUCER).lastOffence).toBe("FailedIntroductions")
    expect(record(after10, INTRODUCER).penalties).toBe(2) // at the 5th and the 10th failure
    expect(remainingBudget(stats, NOW + INTRODUCTION_WINDOW_MS, after10.policy)).toBe(Math.floor(MAX_NEW_PER_WINDOW / 11))
    const after25 = introduceAndDial(after10, 200, 15, () => false)
    expect(isBannedAt(record(after25, INTRODUCER), NOW)).toBe(true)
  })

  it("are charged only for the first dial of each peer they introduced, not for retries", () => {
    let table = introduceAndDial(mergeNodeInfos(tableOf(), [signedInfo(INTRODUCER, NOW)], NOW).table, 100, 1, () => false)
    for (let k = 1; k <= 10; k++) table = dialFailed(markDialling(table, peerOf(100), NOW + k), peerOf(100), NOW + k).table
    expect(record(table, INTRODUCER).introductions.failed).toBe(1)
  })

  it("are not charged when most of their introductions connect", () => {
    const start = mergeNodeInfos(tableOf(), [signedInfo(INTRODUCER, NOW)], NOW).table
    const table = introduceAndDial(start, 100, 40, (i) => i % 3 !== 0) // a third fail (lossy links, departed nodes)
    expect(record(table, INTRODUCER).lastOffence).toBeUndefined()
    expect(record(table, INTRODUCER).penalties).toBe(0)
    expect(remainingBudget(record(table, INTRODUCER).introductions, NOW + INTRODUCTION_WINDOW_MS, table.policy)).toBe(MAX_NEW_PER_WINDOW)
  })
})
