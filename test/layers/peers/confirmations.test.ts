/**
 * Confirmation dials (pure): each round, up to `confirmationDialsPerRound` probation entries that a
 * second voice we believe reported are dialled (not queried), the most widely reported first — never an
 * entry with only its introducer's word, or whose other voices were found out; a reached one moves to
 * the table without crediting its introducer, a failed one is forgotten and charges it.
 */
import { describe, expect, it } from "@effect/vitest"
import { HashMap } from "effect"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { chooseConfirmationDials } from "../../../src/layers/peers/confirmations.js"
import { dialFailed, dialSucceeded, planDials } from "../../../src/layers/peers/connections.js"
import { CONFIRMATION_DIALS_PER_ROUND, MAX_INFO_AGE_MS } from "../../../src/layers/peers/policy.js"
import { seededRng } from "../../../src/layers/peers/prng.js"
import { mergeNodeInfos, recordOf, updateRecord, type PeerTable } from "../../../src/layers/peers/table.js"
import { peerOf, signedInfo } from "../discovery/nodeInfos.js"
import { tableOf } from "./fixtures.js"

const NOW = 10 * MAX_INFO_AGE_MS
const peers = (from: number, count: number) => Array.from({ length: count }, (_, i) => peerOf(from + i))

/**
 * Peers 1–9 known by their own NodeInfos, none judged yet. Introduced by 1 and waiting on probation:
 * 100–119 reported by 2 too, 120–124 by 2 and 3, 125–129 by nobody else.
 */
const world = (): PeerTable => {
  let table = mergeNodeInfos(tableOf(), peers(1, 9).map((_, i) => signedInfo(1 + i, NOW)), NOW).table
  const infos = (from: number, count: number) => Array.from({ length: count }, (_, i) => signedInfo(from + i, NOW))
  table = mergeNodeInfos(table, infos(100, 30), NOW, peerOf(1)).table
  table = mergeNodeInfos(table, infos(100, 25), NOW, peerOf(2)).table
  return mergeNodeInfos(table, infos(120, 5), NOW, peerOf(3)).table
}

const confirmed = (table: PeerTable, count: number, seed = 1): Array<PeerId> =>
  chooseConfirmationDials(table, NOW, count, seededRng(seed), new Set()).map((c) => c.peerId)

describe("confirmation dials", () => {
  it("go to entries a second believed voice reported, the most widely reported first", () => {
    const table = world()
    expect(HashMap.size(table.probation)).toBe(30)
    expect(new Set(confirmed(table, 5))).toEqual(new Set(peers(120, 5)))
    const more = confirmed(table, 100)
    expect(more).toHaveLength(25)
    expect(more.slice(0, 5).sort()).toEqual(peers(120, 5).sort())
    for (const peerId of peers(125, 5)) expect(more).not.toContain(peerId)
  })

  it("count each believed reporter once, and no discredited one", () => {
    const [A, B, C, D] = [1, 2, 3, 4].map(peerOf) as [PeerId, PeerId, PeerId, PeerId]
    const infos = (from: number, count: number) => Array.from({ length: count }, (_, i) => signedInfo(from + i, NOW))
    let table = mergeNodeInfos(tableOf(), [1, 2, 3, 4].map((i) => signedInfo(i, NOW)), NOW).table
    table = mergeNodeInfos(table, infos(100, 10), NOW, A).table
    // 105 is reported again by B; 106 by C and D. None of them vouches: all stay on probation, remembered.
    table = mergeNodeInfos(table, [signedInfo(105, NOW)], NOW, B).table
    table = mergeNodeInfos(table, [signedInfo(106, NOW)], NOW, C).table
    table = mergeNodeInfos(table, [signedInfo(106, NOW)], NOW, D).table
    table = mergeNodeInfos(table, [signedInfo(106, NOW)], NOW, D).table // the same reporter twice counts once
    expect(HashMap.unsafeGet(table.probation, peerOf(106)).reportedBy).toEqual([C, D])
    for (let seed = 1; seed <= 5; seed++) expect(confirmed(table, 4, seed)).toEqual([peerOf(106), peerOf(105)])
    // C and D found out (a failed introduction each, none reached): 106 counts no reporter, 105 one.
    const discredit = (t: PeerTable, p: PeerId) => updateRecord(t, p, (r) => ({ ...r, introductions: { ...r.introductions, failed: 1 } }))
    expect(confirmed(discredit(discredit(table, C), D), 4)).toEqual([peerOf(105)])
  })

  it("skip entries whose other voices were found out", () => {
    // Peer 2 is discredited (its introductions failed, none connected); 3 is still believed.
    const table = updateRecord(world(), peerOf(2), (r) => ({ ...r, introductions: { ...r.introductions, failed: 3, streak: 0 } }))
    expect(new Set(confirmed(table, 100))).toEqual(new Set(peers(120, 5)))
  })

  it("are none once nothing with a second voice waits (a converged network makes none)", () => {
    expect(confirmed({ ...world(), probation: HashMap.empty() }, 16)).toEqual([])
    let table = world()
    for (const peerId of peers(100, 25)) table = dialSucceeded(table, peerId, "sim://x", 10, NOW).table
    expect(confirmed(table, 16)).toEqual([])
  })

  it("move a reached entry to the table without crediting its introducer; a failed one is forgotten and charges it", () => {
    const request = { target: 8, wanted: 0, rotationProbability: 0, connectedCount: 8, rng: seededRng(3) }
    const plan = planDials(world(), NOW, request)
    const confirmation = plan.value.find((o) => o.purpose === "Confirm")?.peerId as PeerId
    const feeler = plan.value.find((o) => o.purpose === "Feeler" && peers(100, 30).includes(o.peerId))?.peerId as PeerId
    expect(HashMap.unsafeGet(plan.table.probation, confirmation).confirming).toBe(true)
    const reached = dialSucceeded(plan.table, confirmation, "sim://c", 10, NOW).table
    expect(HashMap.has(reached.probation, confirmation)).toBe(false)
    expect(recordOf(reached, confirmation)?.connection._tag).toBe("Connected")
    // Colluding liars all report their fellow attackers, which are real: a reached confirmation is no credit.
    expect(recordOf(reached, peerOf(1))?.introductions).toMatchObject({ connected: 0, streak: 0 })
    // A feeler reaching one of the same introducer's entries is.
    expect(recordOf(dialSucceeded(reached, feeler, "sim://f", 10, NOW).table, peerOf(1))?.introductions).toMatchObject({ connected: 1, streak: 1 })
    const failed = dialFailed(plan.table, confirmation, NOW).table
    expect(HashMap.has(failed.probation, confirmation)).toBe(false)
    expect(recordOf(failed, confirmation)).toBeUndefined()
    expect(recordOf(failed, peerOf(1))?.introductions.failed).toBe(1)
  })

  it(`are planned ${CONFIRMATION_DIALS_PER_ROUND} a round beside the feelers, with a connection, not twice while dialling`, () => {
    const request = { target: 8, wanted: 0, rotationProbability: 0, rng: seededRng(3) }
    expect(planDials(world(), NOW, { ...request, connectedCount: 0 }).value.filter((o) => o.purpose === "Confirm")).toEqual([])
    const plan = planDials(world(), NOW, { ...request, connectedCount: 8 })
    const confirmations = plan.value.filter((o) => o.purpose === "Confirm")
    expect(confirmations).toHaveLength(CONFIRMATION_DIALS_PER_ROUND)
    const feelers = new Set(plan.value.filter((o) => o.purpose === "Feeler").map((o) => o.peerId))
    for (const order of confirmations) {
      expect(peers(100, 25)).toContain(order.peerId)
      expect(feelers.has(order.peerId)).toBe(false)
      expect(HashMap.unsafeGet(plan.table.probation, order.peerId).diallingSinceMs).toBe(NOW)
    }
    const next = planDials(plan.table, NOW, { ...request, connectedCount: 8, rng: seededRng(4) })
    const again = new Set(next.value.filter((o) => o.purpose === "Confirm").map((o) => o.peerId))
    for (const order of confirmations) expect(again.has(order.peerId)).toBe(false)
  })
})
