/**
 * Learning dials (pure): each round, up to `learningDialsPerRound` credible peers we are not connected
 * to are dialled to be asked once — never a peer whose introductions are unproven or failed, a banned
 * one or one backing off, and none once nothing waits on probation (more answers would teach nothing).
 */
import { describe, expect, it } from "@effect/vitest"
import { HashMap } from "effect"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { dialFailed, planDials } from "../../../src/layers/peers/connections.js"
import { chooseLearningDials } from "../../../src/layers/peers/learning.js"
import { LEARNING_DIALS_PER_ROUND, MAX_INFO_AGE_MS } from "../../../src/layers/peers/policy.js"
import { seededRng } from "../../../src/layers/peers/prng.js"
import { mergeNodeInfos, reportOffence, updateRecord, type PeerTable } from "../../../src/layers/peers/table.js"
import { peerOf, signedInfo } from "../discovery/nodeInfos.js"
import { tableOf, withCredibleIntroducer } from "./fixtures.js"

const NOW = 10 * MAX_INFO_AGE_MS
const peers = (from: number, count: number) => Array.from({ length: count }, (_, i) => peerOf(from + i))

/** Peers 1–6 known by their own NodeInfos, 1–4 credible; peer 50 on probation (introduced by 5). */
const world = (): PeerTable => {
  let table = mergeNodeInfos(tableOf(), peers(1, 6).map((_, i) => signedInfo(1 + i, NOW)), NOW).table
  for (const peerId of peers(1, 4)) table = withCredibleIntroducer(table, peerId, NOW)
  return mergeNodeInfos(table, [signedInfo(50, NOW)], NOW, peerOf(5)).table
}

const learnt = (table: PeerTable, count: number, seed = 1): Array<PeerId> =>
  chooseLearningDials(table, NOW, count, seededRng(seed), new Set()).map((c) => c.peerId)

describe("learning dials", () => {
  it("go to credible peers only, at random among them", () => {
    const credible = new Set(peers(1, 4))
    const seen = new Set<PeerId>()
    for (let seed = 1; seed <= 20; seed++) {
      const chosen = learnt(world(), 2, seed)
      expect(chosen).toHaveLength(2)
      for (const peerId of chosen) {
        expect(credible.has(peerId)).toBe(true)
        seen.add(peerId)
      }
    }
    expect(seen.size).toBe(4)
  })

  it("skip connected, dialling, banned and backing-off peers", () => {
    let table = world()
    table = updateRecord(table, peerOf(1), (r) => ({ ...r, connection: { _tag: "Connected", sinceMs: NOW, address: "sim://1" } }))
    table = updateRecord(table, peerOf(2), (r) => ({ ...r, connection: { _tag: "Dialling", sinceMs: NOW, disconnectedSinceMs: undefined } }))
    for (let k = 0; k < 10; k++) table = reportOffence(table, peerOf(3), "InvalidData", NOW).table
    expect(learnt(table, 4)).toEqual([peerOf(4)])
    expect(learnt(dialFailed(table, peerOf(4), NOW).table, 4)).toEqual([])
  })

  it("stop once nothing waits on probation", () => {
    const empty = { ...world(), probation: HashMap.empty() }
    expect(learnt(empty, 4)).toEqual([])
  })

  it("stop when all that waits on probation is the word of responders found out (a lasting Sybil flood)", () => {
    // Peer 5, the introducer of 50, is discredited: its introductions failed, none connected.
    const discredited = updateRecord(world(), peerOf(5), (r) => ({ ...r, introductions: { ...r.introductions, failed: 3, streak: 0 } }))
    expect(learnt(discredited, 4)).toEqual([])
    // Another voice we still believe (peer 6, never judged) reported 50 too: worth asking again.
    const reported = mergeNodeInfos(discredited, [signedInfo(50, NOW)], NOW, peerOf(6)).table
    expect(learnt(reported, 4)).toHaveLength(4)
  })

  it(`are planned ${LEARNING_DIALS_PER_ROUND} a round beside the feelers, with a connection, and marked as dialling`, () => {
    const request = { target: 8, wanted: 0, rotationProbability: 0, rng: seededRng(3) }
    expect(planDials(world(), NOW, { ...request, connectedCount: 0 }).value.filter((o) => o.purpose === "Learn")).toEqual([])
    const plan = planDials(world(), NOW, { ...request, connectedCount: 8 })
    const learning = plan.value.filter((o) => o.purpose === "Learn")
    expect(learning).toHaveLength(LEARNING_DIALS_PER_ROUND)
    for (const order of learning) {
      expect(peers(1, 4)).toContain(order.peerId)
      expect(HashMap.unsafeGet(plan.table.peers, order.peerId).connection._tag).toBe("Dialling")
    }
  })
})
