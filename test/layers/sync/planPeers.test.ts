/**
 * The sync peer table, on the pure plan: it stays bounded under churn of many peers; a peer that claims
 * more than it serves and refuses to serve it is reported and stops steering the plan, while a slow or
 * "not yet" peer never is; a PushCommit from a peer that is not connected changes nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { PeerId } from "../../../src/domain/PeerId.js"
import { ZERO_DIGEST } from "../../../src/domain/primitives.js"
import { CLAIM_FAILURES_TO_DISCARD, CLAIM_QUARANTINE_MS, HEIGHT_POLL_INTERVAL_MS } from "../../../src/layers/sync/constants.js"
import { applyEvent, type SyncEvent } from "../../../src/layers/sync/plan/events.js"
import { isBanned, takeOffences, targetHeight } from "../../../src/layers/sync/plan/peers.js"
import { schedule } from "../../../src/layers/sync/plan/schedule.js"
import { initialPlan, type CommitsOutcome, type PeerTableLimits, type SyncCommand, type SyncOffence, type SyncPlan } from "../../../src/layers/sync/plan/types.js"

const peer = (n: number) => n.toString(16).padStart(64, "0") as PeerId
const MAX_U32 = 2 ** 32 - 1
const config = { window: 8, blockChunksInFlight: 3, maxRequestsPerPeer: 3, maxBlocksHeld: 1_000_000 }
/** A plan that already knows commits hold one block each, so that the whole window opens. */
const startPlan = (): SyncPlan => ({ ...initialPlan(0, 0, ZERO_DIGEST), blocksPerCommit: 1 })

type FetchCommits = Extract<SyncCommand, { _tag: "FetchCommits" }>

/**
 * Runs the plan for `rounds` rounds of one second: schedule, answer every commit fetch by the peer's
 * behaviour (undefined: leave it in flight), heights polled every 5 s as the height worker does.
 * Returns the plan, the offences it recorded and the fetches each peer was given.
 */
const run = (
  start: SyncPlan,
  claims: ReadonlyMap<PeerId, number>,
  answer: (peer: PeerId, command: FetchCommits) => CommitsOutcome | undefined,
  rounds: number
) => {
  let plan = start
  const offences: Array<SyncOffence> = []
  const fetches: Array<FetchCommits> = []
  for (let round = 0; round < rounds; round++) {
    const now = round * 1_000
    if (now % HEIGHT_POLL_INTERVAL_MS === 0)
      for (const [id, highest] of claims) plan = applyEvent(plan, { _tag: "Heights", peer: id, highest, lowest: 0 }, now)
    const scheduled = schedule(plan, now, config)
    plan = scheduled.plan
    for (const command of scheduled.commands) {
      if (command._tag !== "FetchCommits") continue
      fetches.push(command)
      const outcome = answer(command.peer, command)
      if (outcome !== undefined) plan = applyEvent(plan, { _tag: "Commits", rangeId: command.rangeId, peer: command.peer, outcome }, now)
    }
    const taken = takeOffences(plan)
    plan = taken.plan
    offences.push(...taken.offences)
  }
  return { plan, offences, fetches }
}

describe("sync peer table", () => {
  it("property: under churn of many peers the table stays within its cap (plus peers with requests in flight) and drops peers gone too long", () => {
    const limits: PeerTableLimits = { maxPeers: 12, goneRetentionMs: 3_000 }
    const pool = 300
    const step = fc.oneof(
      fc.record({ kind: fc.constant("heights" as const), peer: fc.nat(pool - 1), highest: fc.nat(2_000) }),
      fc.record({ kind: fc.constant("gone" as const), peer: fc.nat(pool - 1) }),
      fc.record({ kind: fc.constant("push" as const), peer: fc.nat(pool - 1), index: fc.nat(MAX_U32) }),
      fc.record({ kind: fc.constant("ban" as const), peer: fc.nat(pool - 1), forMs: fc.nat(10_000) }),
      fc.record({ kind: fc.constant("answer" as const), pick: fc.nat(), refused: fc.boolean() }),
      fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 2_000 }) })
    )
    fc.assert(
      fc.property(fc.array(step, { minLength: 50, maxLength: 400 }), (steps) => {
        let plan = startPlan()
        let now = 0
        const outstanding: Array<FetchCommits> = []
        for (const s of steps) {
          let event: SyncEvent
          switch (s.kind) {
            case "heights":
              event = { _tag: "Heights", peer: peer(s.peer), highest: s.highest, lowest: 0 }
              break
            case "gone":
              event = { _tag: "PeerGone", peer: peer(s.peer) }
              break
            case "push":
              event = { _tag: "Pushed", peer: peer(s.peer), index: s.index }
              break
            case "ban":
              event = { _tag: "PeerBanned", peer: peer(s.peer), untilMs: now + s.forMs }
              break
            case "answer": {
              const command = outstanding.splice(s.pick % Math.max(1, outstanding.length), 1)[0]
              if (command === undefined) continue
              event = { _tag: "Commits", rangeId: command.rangeId, peer: command.peer, outcome: { _tag: "Failed", detail: "x", refused: s.refused } }
              break
            }
            case "tick":
              now += s.ms
              event = { _tag: "Tick" }
          }
          plan = applyEvent(plan, event, now, limits)
          const scheduled = schedule(plan, now, config)
          plan = takeOffences(scheduled.plan).plan
          for (const c of scheduled.commands) if (c._tag === "FetchCommits") outstanding.push(c)

          const busy = [...plan.peers.values()].filter((p) => p.inflight > 0).length
          expect(plan.peers.size).toBeLessThanOrEqual(limits.maxPeers + busy)
          // A peer with a request in flight keeps its entry (its counters must settle).
          for (const c of outstanding) expect(plan.peers.has(c.peer)).toBe(true)
          if (event._tag === "Tick")
            for (const p of plan.peers.values())
              if (!p.connected && p.inflight === 0 && !isBanned(p, now)) expect(now - p.goneAt).toBeLessThan(limits.goneRetentionMs)
        }
      }),
      { numRuns: 60, seed: 11 }
    )
  })

  it("a peer claiming 2^32−1 that answers with errors is reported once per refused claim and stops steering the plan", () => {
    const liar = peer(1)
    const honest = peer(2)
    const claims = new Map([
      [liar, MAX_U32],
      [honest, 250]
    ])
    // The honest peer is busy (its fetches stay in flight); the liar refuses every fetch.
    const { fetches, offences, plan } = run(startPlan(), claims, (p) => (p === liar ? { _tag: "Failed", detail: "INTERNAL", refused: true } : undefined), 30)

    expect(offences.length).toBeGreaterThanOrEqual(1)
    for (const o of offences) expect(o).toMatchObject({ peer: liar, offence: "ProtocolViolation", reason: "unserved_claim" })
    // Reported after CLAIM_FAILURES_TO_DISCARD refusals, then ignored for the quarantine: one report in 30 s.
    expect(offences).toHaveLength(1)
    const refusedBeforeReport = fetches.filter((f) => f.peer === liar).length
    expect(refusedBeforeReport).toBe(CLAIM_FAILURES_TO_DISCARD)
    // Its claim no longer steers: the target is the honest claim, no range beyond it, the re-claims of the poll ignored.
    expect(plan.peers.get(liar)!.highest).toBeLessThanOrEqual(0)
    expect(targetHeight(plan, 29_000)).toBe(250)
    for (const r of plan.ranges) expect(r.start).toBeLessThanOrEqual(250)
    // The plan does not ban it: the ledger decides (its penalty decays; a repeat offender is banned there).
    expect(isBanned(plan.peers.get(liar), 29_000)).toBe(false)

    // After the quarantine its claim counts again — and refusing again is reported again.
    const later = run(plan, claims, (p) => (p === liar ? { _tag: "Failed", detail: "INTERNAL", refused: true } : undefined), 30 + CLAIM_QUARANTINE_MS / 1_000 + 10)
    expect(later.offences.length).toBeGreaterThanOrEqual(1)
  })

  it("an honest peer that is slow (timeouts), or says 'not yet', is never reported, and its claim comes back with its next height answer", () => {
    const slow = peer(3)
    const notYet = peer(4)
    const claims = new Map([
      [slow, 400],
      [notYet, 400]
    ])
    const { fetches, offences, plan } = run(
      startPlan(),
      claims,
      (p, command) => (p === slow ? { _tag: "Failed", detail: "deadline exceeded" } : { _tag: "Empty", start: command.start }),
      120
    )
    expect(fetches.length).toBeGreaterThan(20)
    expect(offences).toEqual([])
    for (const id of [slow, notYet]) expect(isBanned(plan.peers.get(id), 120_000)).toBe(false)
    // The poll at 120 s restores the claims the failures had discarded.
    const polled = applyEvent(applyEvent(plan, { _tag: "Heights", peer: slow, highest: 400, lowest: 0 }, 120_000), { _tag: "Heights", peer: notYet, highest: 400, lowest: 0 }, 120_000)
    expect(targetHeight(polled, 120_000)).toBe(400)
  })

  it("a refusal mixed with timeouts is not an offence (a bad link is not a lie), only a discarded claim", () => {
    const flaky = peer(5)
    let answers = 0
    const { offences, plan } = run(
      startPlan(),
      new Map([[flaky, 400]]),
      () => (answers++ % 3 === 0 ? { _tag: "Failed", detail: "UNAVAILABLE", refused: true } : { _tag: "Failed", detail: "deadline exceeded" }),
      60
    )
    expect(offences).toEqual([])
    expect(plan.peers.get(flaky)!.claimIgnoredUntil).toBe(0)
  })

  it("a PushCommit from a peer that is not connected changes nothing", () => {
    const p = peer(6)
    const known = applyEvent(startPlan(), { _tag: "Heights", peer: p, highest: 10, lowest: 0 }, 0)
    const gone = applyEvent(known, { _tag: "PeerGone", peer: p }, 1)
    expect(applyEvent(gone, { _tag: "Pushed", peer: p, index: 1_000 }, 2)).toEqual(gone)
    // Nor from a peer sync never heard of.
    expect(applyEvent(gone, { _tag: "Pushed", peer: peer(7), index: 1_000 }, 2)).toEqual(gone)
    // Connected again (it answered the heights asked on connect): its pushes count.
    const back = applyEvent(gone, { _tag: "Heights", peer: p, highest: 10, lowest: 0 }, 3)
    expect(applyEvent(back, { _tag: "Pushed", peer: p, index: 1_000 }, 4).peers.get(p)!.highest).toBe(1_000)
  })
})
