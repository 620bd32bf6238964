/** Pure ranking and dial planning: eligibility, rank order, jitter, the dial plan, trimming, what may be served. */
import { describe, expect, it } from "@effect/vitest"
import { Capability } from "../../../src/domain/nodeInfo.js"
import { markDialling, peerConnected, planDials, reconcileConnections } from "../../../src/layers/peers/connections.js"
import { MAX_INFO_AGE_MS } from "../../../src/layers/peers/policy.js"
import { seededRng } from "../../../src/layers/peers/prng.js"
import { chooseDials, chooseTrim, isEligibleForDial, servableNodeInfos } from "../../../src/layers/peers/ranking.js"
import {
  mergeNodeInfos,
  recordCallFailure,
  recordCallSuccess,
  recordOf,
  reportOffence,
  updateRecord,
  withConfiguredPeers,
  type PeerTable
} from "../../../src/layers/peers/table.js"
import { peerOf, signedInfo } from "../discovery/nodeInfos.js"
import { tableOf } from "./fixtures.js"

const NOW = 10 * MAX_INFO_AGE_MS
const noJitter = () => 0
const known = (indices: ReadonlyArray<number>, at = NOW): PeerTable => mergeNodeInfos(tableOf(), indices.map((i) => signedInfo(i, at)), NOW).table
const withRtt = (table: PeerTable, index: number, rttMs: number) => recordCallSuccess(table, peerOf(index), rttMs).table

describe("eligibility", () => {
  it("excludes connected, dialling, banned, backing-off and address-less peers", () => {
    let table = mergeNodeInfos(tableOf(), [1, 2, 3, 4, 5, 6].map((i) => signedInfo(i, NOW, i === 6 ? { addresses: [] } : {})), NOW).table
    table = peerConnected(table, peerOf(1), "sim://1", NOW).table
    table = markDialling(table, peerOf(2), NOW)
    table = updateRecord(table, peerOf(3), (r) => ({ ...r, bannedUntilMs: NOW + 1 }))
    table = recordCallFailure(table, peerOf(4), undefined, NOW).table
    const eligible = [1, 2, 3, 4, 5, 6].filter((i) => isEligibleForDial(recordOf(table, peerOf(i))!, NOW))
    expect(eligible).toEqual([5])
  })
})

describe("chooseDials", () => {
  it("ranks allowlisted first, then peers with the wanted capabilities, then by quality", () => {
    let table = mergeNodeInfos(
      tableOf(),
      [
        signedInfo(1, NOW, { capabilities: 0 }),
        signedInfo(2, NOW, { capabilities: Capability.ServesStateSync | Capability.Archival }),
        signedInfo(3, NOW, { capabilities: Capability.ServesStateSync }),
        signedInfo(4, NOW, { capabilities: Capability.ServesStateSync })
      ],
      NOW
    ).table
    table = withConfiguredPeers(table, [], [{ peerId: peerOf(1) }])
    table = withRtt(table, 3, 300)
    table = withRtt(table, 4, 20)
    const wantArchival = chooseDials(table, NOW, 4, Capability.Archival, noJitter).map((r) => r.peerId)
    expect(wantArchival).toEqual([1, 2, 4, 3].map(peerOf))
    const wantSync = chooseDials(table, NOW, 2, Capability.ServesStateSync, noJitter).map((r) => r.peerId)
    expect(wantSync).toEqual([1, 4].map(peerOf))
  })

  it("prefers a reliable, fast, well-behaved peer", () => {
    let table = known([1, 2, 3, 4])
    for (const i of [1, 2, 3]) table = withRtt(table, i, 20)
    table = withRtt(table, 4, 500) // slow
    table = recordCallFailure(table, peerOf(2), undefined, NOW).table // less reliable...
    table = withRtt(table, 2, 20) // ...though answering again (no backoff)
    table = reportOffence(table, peerOf(3), "InvalidNodeInfo", NOW).table // misbehaved once
    const order = chooseDials(table, NOW, 4, 0, noJitter).map((r) => r.peerId)
    expect(order[0]).toBe(peerOf(1))
    expect(order.slice(1).sort()).toEqual([2, 3, 4].map(peerOf).sort())
  })

  it("spreads choices among similar peers with jitter, deterministically per seed", () => {
    const table = known(Array.from({ length: 20 }, (_, i) => i + 1))
    const firsts = new Set(Array.from({ length: 30 }, (_, s) => chooseDials(table, NOW, 1, 0, seededRng(s))[0]?.peerId))
    expect(firsts.size).toBeGreaterThan(5)
    expect(chooseDials(table, NOW, 5, 0, seededRng(42))).toEqual(chooseDials(table, NOW, 5, 0, seededRng(42)))
  })
})

describe("planDials", () => {
  const input = { connectedCount: 0, target: 8, wanted: 0, rotationProbability: 0, rng: noJitter }

  it("dials target − connected − dialling peers and marks them, so the next plan does not dial them again", () => {
    let table = known(Array.from({ length: 20 }, (_, i) => i + 1))
    for (const i of [1, 2, 3]) table = peerConnected(table, peerOf(i), `sim://${i}`, NOW).table
    table = markDialling(table, peerOf(4), NOW)
    const plan = planDials(table, NOW, { ...input, connectedCount: 3 })
    expect(plan.value).toHaveLength(8 - 3 - 1)
    expect(plan.value.every((o) => o.purpose === "Fill" && o.address.startsWith("sim://"))).toBe(true)
    const again = planDials(plan.table, NOW, { ...input, connectedCount: 3 })
    expect(again.value).toEqual([])
  })

  it("dials seeds and allowlisted peers when isolated, even while they back off — but never banned ones", () => {
    let table = withConfiguredPeers(
      tableOf(),
      [
        { peerId: peerOf(1), address: "sim://seed1" },
        { peerId: peerOf(2), address: "sim://seed2" }
      ],
      [{ peerId: peerOf(3), address: "sim://allow3" }]
    )
    table = recordCallFailure(table, peerOf(1), undefined, NOW).table // backing off
    table = updateRecord(table, peerOf(2), (r) => ({ ...r, bannedUntilMs: NOW + 1 }))
    const plan = planDials(table, NOW, input)
    expect(plan.value).toEqual([
      { peerId: peerOf(1), address: "sim://seed1", purpose: "Seed" },
      { peerId: peerOf(3), address: "sim://allow3", purpose: "Seed" }
    ].sort((a, b) => (a.peerId < b.peerId ? -1 : 1)))
    // With a connection, a backing-off seed waits like anyone else.
    expect(planDials(table, NOW, { ...input, connectedCount: 1 }).value.map((o) => o.peerId)).toEqual([peerOf(3)])
  })

  it("at target, rotates to one random eligible peer with the given probability", () => {
    let table = known(Array.from({ length: 12 }, (_, i) => i + 1))
    for (let i = 1; i <= 8; i++) table = peerConnected(table, peerOf(i), `sim://${i}`, NOW).table
    expect(planDials(table, NOW, { ...input, connectedCount: 8, rotationProbability: 0 }).value).toEqual([])
    const rotate = planDials(table, NOW, { ...input, connectedCount: 8, rotationProbability: 1 })
    expect(rotate.value).toHaveLength(1)
    expect(rotate.value[0]?.purpose).toBe("Rotate")
    expect([9, 10, 11, 12].map(peerOf)).toContain(rotate.value[0]?.peerId)
  })
})

describe("chooseTrim", () => {
  it("drops the worst-ranked connections above target, never allowlisted or kept ones", () => {
    let table = known([1, 2, 3, 4])
    table = withConfiguredPeers(table, [], [{ peerId: peerOf(1) }])
    table = withRtt(table, 1, 900)
    table = withRtt(table, 2, 900)
    table = withRtt(table, 3, 10)
    table = withRtt(table, 4, 500)
    const connected = [1, 2, 3, 4].map(peerOf)
    expect(chooseTrim(table, NOW, connected, 2, 0)).toEqual([peerOf(2), peerOf(4)])
    expect(chooseTrim(table, NOW, connected, 3, 0, new Set([peerOf(2)]))).toEqual([peerOf(4)])
    expect(chooseTrim(table, NOW, connected, 4, 0)).toEqual([])
  })

  it("drops a peer found lying about other peers first, and dials it only when nobody better is eligible", () => {
    // Peer 3 is the fastest, but most of what it introduced failed to connect.
    let table = known([1, 2, 3, 4])
    for (const i of [1, 2, 4]) table = withRtt(table, i, 200)
    table = withRtt(table, 3, 10)
    const liar = updateRecord(table, peerOf(3), (r) => ({ ...r, introductions: { ...r.introductions, connected: 1, failed: 6, streak: 0 } }))
    const connected = [1, 2, 3, 4].map(peerOf)
    expect(chooseTrim(table, NOW, connected, 3, 0)).not.toEqual([peerOf(3)])
    expect(chooseTrim(liar, NOW, connected, 3, 0)).toEqual([peerOf(3)])
    // Dialling (with the usual jitter): the liar comes last, but is still dialled when it is all there is.
    for (let seed = 1; seed <= 20; seed++) expect(chooseDials(liar, NOW, 4, 0, seededRng(seed)).at(-1)?.peerId).toBe(peerOf(3))
    expect(chooseDials(liar, NOW, 1, 0, seededRng(1), new Set([1, 2, 4].map(peerOf))).map((r) => r.peerId)).toEqual([peerOf(3)])
  })
})

describe("reconcileConnections", () => {
  it("follows the network's list of connections", () => {
    let table = known([1, 2, 3])
    table = peerConnected(table, peerOf(1), "sim://1", NOW).table
    const { table: after, changes } = reconcileConnections(table, [peerOf(2)], NOW)
    expect(changes.map((c) => c._tag).sort()).toEqual(["PeerConnected", "PeerDisconnected"])
    expect(recordOf(after, peerOf(1))?.connection._tag).toBe("Disconnected")
    expect(recordOf(after, peerOf(2))?.connection).toEqual({ _tag: "Connected", sinceMs: NOW, address: "sim://2" })
  })
})

describe("servableNodeInfos", () => {
  it("gives at most the limit, most recently signed first, never the asker's, banned or nearly expired ones", () => {
    const margin = 60_000
    const infos = Array.from({ length: 500 }, (_, i) => signedInfo(i + 1, NOW - i * 1_000))
    let table = mergeNodeInfos(tableOf(), infos, NOW).table
    table = updateRecord(table, peerOf(2), (r) => ({ ...r, bannedUntilMs: NOW + 1 }))
    table = mergeNodeInfos(table, [signedInfo(600, NOW - MAX_INFO_AGE_MS + margin)], NOW - 1).table
    const servable = servableNodeInfos(table, NOW, { exclude: peerOf(1), minRemainingMs: margin, limit: 400 })
    expect(servable).toHaveLength(400)
    const ids = new Set(servable.map((s) => s.info.peerId))
    expect(ids.has(peerOf(1)) || ids.has(peerOf(2)) || ids.has(peerOf(600))).toBe(false)
    // Peers 3..402, newest first.
    expect(servable[0]?.info.peerId).toBe(peerOf(3))
    expect(servable[399]?.info.peerId).toBe(peerOf(402))
    expect(servable.every((s, k) => k === 0 || (servable[k - 1]?.info.timestampMs ?? 0) > s.info.timestampMs)).toBe(true)
    // Below the limit: everything servable.
    expect(servableNodeInfos(known([1, 2, 3]), NOW, { exclude: peerOf(1), minRemainingMs: margin, limit: 400 })).toHaveLength(2)
  })

  it("never recommends a peer we caught introducing mostly dead identities, connected or not", () => {
    // Peer 2 answered (connected, reached) but two of its introductions failed against none reached.
    let table = peerConnected(known([1, 2, 3]), peerOf(2), "sim://2", NOW).table
    const liar = updateRecord(table, peerOf(2), (r) => ({ ...r, introductions: { ...r.introductions, connected: 0, failed: 2, streak: 0 } }))
    const served = (t: PeerTable) => servableNodeInfos(t, NOW, { exclude: undefined, minRemainingMs: 0, limit: 400 }).map((s) => s.info.peerId)
    expect(served(table)).toContain(peerOf(2))
    expect(served(liar)).not.toContain(peerOf(2))
    expect(served(liar)).toEqual(expect.arrayContaining([peerOf(1), peerOf(3)]))
    // An honest relay with one dead introduction among many live ones is still served.
    table = updateRecord(table, peerOf(2), (r) => ({ ...r, introductions: { ...r.introductions, connected: 8, failed: 1, streak: 0 } }))
    expect(served(table)).toContain(peerOf(2))
  })
})
