/** Pure transitions of the peer table: merging NodeInfos, culling, the cap, offences, bans and their counts, backoff. */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { HashMap } from "effect"
import { dialFailed, dialSucceeded, markDialling, peerConnected, peerDisconnected } from "../../../src/layers/peers/connections.js"
import { BAN_DURATION_MS, DIAL_BACKOFF_BASE_MS, DIAL_BACKOFF_MAX_MS, FAULT_SCORE_FLOOR, MAX_INFO_AGE_MS, SCORE_HALF_LIFE_MS } from "../../../src/layers/peers/policy.js"
import { decayedScore, isBannedAt } from "../../../src/layers/peers/reputation.js"
import {
  cullStale,
  enforceCap,
  mergeNodeInfos,
  offenceCounts,
  recordCallFailure,
  recordOf,
  reportOffence,
  updateRecord,
  withConfiguredPeers,
  type PeerTable
} from "../../../src/layers/peers/table.js"
import type { PeerRecord } from "../../../src/services/PeerManager.js"
import { peerOf, signedInfo } from "../discovery/nodeInfos.js"
import { tableOf } from "./fixtures.js"

const NOW = 10 * MAX_INFO_AGE_MS
const record = (table: PeerTable, index: number): PeerRecord => {
  const found = recordOf(table, peerOf(index))
  if (found === undefined) throw new Error(`no record of node ${index}`)
  return found
}

describe("mergeNodeInfos", () => {
  it("inserts a new peer and announces it", () => {
    const { table, changes, value } = mergeNodeInfos(tableOf(), [signedInfo(1, NOW)], NOW)
    expect(value).toEqual(["Inserted"])
    expect(record(table, 1).info).toEqual(signedInfo(1, NOW))
    expect(changes.map((c) => c._tag)).toEqual(["PeerDiscovered"])
  })

  it("replaces a NodeInfo by a newer one, quietly", () => {
    const first = mergeNodeInfos(tableOf(), [signedInfo(1, NOW - 10)], NOW).table
    const { table, changes, value } = mergeNodeInfos(first, [signedInfo(1, NOW)], NOW)
    expect(value).toEqual(["Replaced"])
    expect(record(table, 1).info?.info.timestampMs).toBe(NOW)
    expect(changes).toEqual([])
  })

  it("ignores an older or equally old NodeInfo", () => {
    const first = mergeNodeInfos(tableOf(), [signedInfo(1, NOW)], NOW).table
    const older = mergeNodeInfos(first, [signedInfo(1, NOW - 1, { addresses: ["sim://old"] })], NOW)
    const same = mergeNodeInfos(first, [signedInfo(1, NOW, { addresses: ["sim://other"] })], NOW)
    expect(older.value).toEqual(["NotNewer"])
    expect(same.value).toEqual(["NotNewer"])
    expect(record(older.table, 1).info?.info.addresses).toEqual(["sim://1"])
    expect(record(same.table, 1).info?.info.addresses).toEqual(["sim://1"])
  })

  it("never stores our own NodeInfo", () => {
    const { table, value } = mergeNodeInfos(tableOf(), [signedInfo(0, NOW)], NOW)
    expect(value).toEqual(["Ours"])
    expect(HashMap.size(table.peers)).toBe(0)
  })

  it("ends with the newest NodeInfo per peer whatever the order of arrival (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 50 })), { maxLength: 30 }), (arrivals) => {
        const infos = arrivals.map(([i, t]) => signedInfo(i, NOW - t))
        const { table } = mergeNodeInfos(tableOf(), infos, NOW)
        for (const i of [1, 2, 3, 4]) {
          const offsets = arrivals.filter(([j]) => j === i).map(([, t]) => t)
          const stored = recordOf(table, peerOf(i))?.info?.info.timestampMs
          expect(stored).toBe(offsets.length === 0 ? undefined : NOW - Math.min(...offsets))
        }
      }),
      { numRuns: 50 }
    )
  })
})

describe("cullStale", () => {
  it("forgets unanchored peers whose NodeInfo is 24 h old and keeps fresher ones", () => {
    const merged = mergeNodeInfos(tableOf(), [signedInfo(1, NOW - MAX_INFO_AGE_MS), signedInfo(2, NOW - MAX_INFO_AGE_MS + 1)], NOW).table
    const { table, value, changes } = cullStale(merged, NOW)
    expect(value).toEqual([peerOf(1)])
    expect(changes.map((c) => c._tag)).toEqual(["PeerForgotten"])
    expect(recordOf(table, peerOf(1))).toBeUndefined()
    expect(recordOf(table, peerOf(2))).toBeDefined()
  })

  it("keeps the record of a connected, seed or banned peer but drops its expired NodeInfo", () => {
    let table = mergeNodeInfos(tableOf(), [1, 2, 3].map((i) => signedInfo(i, NOW - MAX_INFO_AGE_MS - 5)), NOW - MAX_INFO_AGE_MS).table
    table = peerConnected(table, peerOf(1), "sim://1", NOW).table
    table = withConfiguredPeers(table, [{ peerId: peerOf(2), address: "sim://2" }], [])
    table = updateRecord(table, peerOf(3), (r) => ({ ...r, bannedUntilMs: NOW + 1 }))
    const culled = cullStale(table, NOW)
    expect(culled.value).toEqual([])
    for (const i of [1, 2, 3]) expect(record(culled.table, i).info).toBeUndefined()
  })
})

describe("enforceCap", () => {
  it("evicts the worst-ranked, stalest records beyond the cap; never connected or configured ones; banned ones last", () => {
    let table = mergeNodeInfos(tableOf({ maxKnownPeers: 100 }), [1, 2, 3, 4, 5, 6, 7].map((i) => signedInfo(i, NOW - 100 + i)), NOW).table
    table = peerConnected(table, peerOf(1), "sim://1", NOW).table // oldest, but in use
    table = withConfiguredPeers(table, [{ peerId: peerOf(2), address: "sim://2" }], []) // seed
    table = updateRecord(table, peerOf(3), (r) => ({ ...r, bannedUntilMs: NOW + 1 })) // banned: evicted last
    table = recordCallFailure(table, peerOf(7), undefined, NOW).table // newest, but failed once: worst quality
    const { table: capped, value, changes } = enforceCap({ ...table, policy: { ...table.policy, maxKnownPeers: 4 } }, NOW)
    // 7 records, cap 4: evict 3 — first the failed one, then the stalest of the rest (4, 5); 3 survives.
    expect(value).toEqual([peerOf(7), peerOf(4), peerOf(5)])
    expect(changes.every((c) => c._tag === "PeerForgotten" && c.reason === "Evicted")).toBe(true)
    expect(HashMap.size(capped.peers)).toBe(4)
    expect([1, 2, 3, 6].every((i) => recordOf(capped, peerOf(i)) !== undefined)).toBe(true)
  })

  it("applies on every merge, so a flood of NodeInfos cannot grow the table past the cap", () => {
    const flood = Array.from({ length: 50 }, (_, i) => signedInfo(i + 1, NOW - i))
    const { table } = mergeNodeInfos(tableOf({ maxKnownPeers: 20 }), flood, NOW)
    expect(HashMap.size(table.peers)).toBe(20)
    // The freshest survive (equal quality: stalest evicted first).
    expect(recordOf(table, peerOf(1))).toBeDefined()
    expect(recordOf(table, peerOf(50))).toBeUndefined()
  })

  it("evicts 1% of the cap beyond the excess, so a full table is not re-sorted for every answer", () => {
    const flood = Array.from({ length: 310 }, (_, i) => signedInfo(i + 1, NOW - i))
    const full = mergeNodeInfos(tableOf({ maxKnownPeers: 1_000 }), flood, NOW).table
    const capped = enforceCap({ ...full, policy: { ...full.policy, maxKnownPeers: 300 } }, NOW)
    expect(capped.value).toHaveLength(10 + 3)
    expect(HashMap.size(capped.table.peers)).toBe(297)
  })
})

describe("offences and bans", () => {
  it("bans on the second InvalidNodeInfo in a row, announces it, and the ban expires", () => {
    let table = tableOf()
    const banned: Array<boolean> = []
    for (let k = 0; k < 3; k++) {
      const step = reportOffence(table, peerOf(1), "InvalidNodeInfo", NOW + k)
      table = step.table
      banned.push(step.value)
      if (step.value) expect(step.changes.map((c) => c._tag)).toEqual(["PeerBanned"])
    }
    // Already banned at the third: the ban is not extended or announced again.
    expect(banned).toEqual([false, true, false])
    expect(isBannedAt(record(table, 1), NOW + 1)).toBe(true)
    expect(isBannedAt(record(table, 1), NOW + 1 + BAN_DURATION_MS - 1)).toBe(true)
    expect(isBannedAt(record(table, 1), NOW + 1 + BAN_DURATION_MS)).toBe(false)
  })

  it("bans at once for invalid state-sync data, and twice as long the second time", () => {
    const first = reportOffence(tableOf(), peerOf(1), "InvalidData", NOW)
    expect(first.value).toBe(true)
    const later = NOW + BAN_DURATION_MS
    const second = reportOffence(first.table, peerOf(1), "InvalidData", later)
    expect(second.value).toBe(true)
    expect(record(second.table, 1).bannedUntilMs).toBe(later + 2 * BAN_DURATION_MS)
  })

  it("lets scores decay: offences spread over time do not ban", () => {
    let table = tableOf()
    for (let k = 0; k < 10; k++) table = reportOffence(table, peerOf(1), "InvalidNodeInfo", NOW + k * 2 * SCORE_HALF_LIFE_MS).table
    expect(isBannedAt(record(table, 1), NOW + 18 * SCORE_HALF_LIFE_MS)).toBe(false)
    const score = record(table, 1)
    expect(decayedScore(score, score.scoreAtMs + SCORE_HALF_LIFE_MS, table.policy)).toBeCloseTo(score.score / 2)
  })

  it("never bans for faults alone: timeouts and unreachability stop at the floor", () => {
    let table = tableOf()
    for (let k = 0; k < 200; k++) table = reportOffence(table, peerOf(1), k % 2 === 0 ? "Timeout" : "Unavailable", NOW).table
    expect(record(table, 1).score).toBe(FAULT_SCORE_FLOOR)
    expect(isBannedAt(record(table, 1), NOW)).toBe(false)
    // ...but they do not wash out misbehaviour either: one InvalidNodeInfo on top bans.
    table = reportOffence(table, peerOf(1), "InvalidNodeInfo", NOW).table
    expect(isBannedAt(record(table, 1), NOW)).toBe(true)
  })
})

describe("offence counts", () => {
  it("counts a misbehaviour penalty and a ban for InvalidData, neither for a Timeout", () => {
    let table = reportOffence(tableOf(), peerOf(1), "InvalidData", NOW).table
    table = reportOffence(table, peerOf(2), "Timeout", NOW).table
    expect(offenceCounts(table)).toEqual([
      { peerId: peerOf(1), bans: 1, penalties: 1, lastOffence: "InvalidData" },
      { peerId: peerOf(2), bans: 0, penalties: 0, lastOffence: "Timeout" }
    ].sort((a, b) => (a.peerId < b.peerId ? -1 : 1)))
  })

  it("counts every misbehaviour, banned or not, and every ban; faults never", () => {
    let table = tableOf()
    const offences = ["StaleNodeInfo", "Unavailable", "InvalidNodeInfo", "Timeout", "InvalidNodeInfo", "ProtocolViolation"] as const
    for (const offence of offences) table = reportOffence(table, peerOf(1), offence, NOW).table
    // −5, −1, −30, −2, −30 crosses −50 (one ban); the protocol violation while banned still counts.
    expect(record(table, 1)).toMatchObject({ penalties: 4, bans: 1, lastOffence: "ProtocolViolation" })
    table = reportOffence(table, peerOf(1), "InvalidData", NOW + BAN_DURATION_MS).table
    expect(record(table, 1)).toMatchObject({ penalties: 5, bans: 2 })
    // Peers never charged are not listed.
    expect(offenceCounts(mergeNodeInfos(table, [signedInfo(3, NOW)], NOW).table).map((c) => c.peerId)).toEqual([peerOf(1)])
  })
})

describe("connection state", () => {
  it("backs off exponentially after failed dials, capped, and resets on success", () => {
    let table = mergeNodeInfos(tableOf(), [signedInfo(1, NOW)], NOW).table
    const backoffs: Array<number> = []
    for (let k = 0; k < 10; k++) {
      table = dialFailed(markDialling(table, peerOf(1), NOW), peerOf(1), NOW).table
      backoffs.push(record(table, 1).backoffUntilMs - NOW)
    }
    expect(backoffs.slice(0, 4)).toEqual([1, 2, 4, 8].map((m) => m * DIAL_BACKOFF_BASE_MS))
    expect(backoffs[9]).toBe(DIAL_BACKOFF_MAX_MS)
    expect(record(table, 1).connection).toEqual({ _tag: "Disconnected", sinceMs: undefined })
    table = dialSucceeded(markDialling(table, peerOf(1), NOW), peerOf(1), "sim://1", 40, NOW).table
    expect(record(table, 1)).toMatchObject({ backoffUntilMs: 0, consecutiveFailures: 0, rttMs: 40, connection: { _tag: "Connected" } })
  })

  it("keeps a disconnected peer, marked with the time it went away", () => {
    let table = mergeNodeInfos(tableOf(), [signedInfo(1, NOW)], NOW).table
    table = peerConnected(table, peerOf(1), "sim://1", NOW).table
    const { table: after, changes } = peerDisconnected(table, peerOf(1), NOW + 7)
    expect(changes.map((c) => c._tag)).toEqual(["PeerDisconnected"])
    expect(record(after, 1).connection).toEqual({ _tag: "Disconnected", sinceMs: NOW + 7 })
    expect(record(after, 1).info).toBeDefined()
  })

  it("smooths RTT samples", () => {
    let table = mergeNodeInfos(tableOf(), [signedInfo(1, NOW)], NOW).table
    table = dialSucceeded(table, peerOf(1), "sim://1", 100, NOW).table
    table = peerDisconnected(table, peerOf(1), NOW).table
    table = dialSucceeded(table, peerOf(1), "sim://1", 200, NOW).table
    expect(record(table, 1).rttMs).toBeCloseTo(100 + 0.2 * 100)
  })
})
