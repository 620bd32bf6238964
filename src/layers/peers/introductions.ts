/**
 * Pure rules of introductions: a peer that answers GetKnownPeers introduces the peers we did not know.
 * Keys are free, so the number of new peers a responder may introduce is budgeted (per answer, and per
 * window — a window's budget shrinks as its introductions fail to connect), entries over the budget
 * are dropped before any signature is checked, and a responder whose introductions keep failing to
 * connect is charged `FailedIntroductions`. Knobs and their reasons: `policy.ts`.
 */
import { HashMap, Option } from "effect"
import { bytesEqual } from "../../domain/bytes.js"
import { encodeSignedNodeInfo, type SignedNodeInfo } from "../../domain/nodeInfo.js"
import type { PeerId } from "../../domain/PeerId.js"
import type { Admission, IntroductionStats, PeerPolicy } from "../../services/PeerManager.js"
import { isCredible } from "./credibility.js"
import { INTRODUCTION_CHARGE_EVERY, INTRODUCTION_FAILURE_RATIO } from "./policy.js"
import { dropUntriedIntroductions, isNewerThanHeld, promoteProvenIntroductions, recordOf, reportOffence, unchanged, updateRecord, type PeerTable, type Transition } from "./table.js"

/**
 * New peers `stats`' owner may still introduce in its current window: the window budget (larger while
 * it is credible: its unproven introductions are bounded otherwise, by `UNPROVEN_PER_STREAK`), scaled down
 * by how many of its introductions failed for each one that connected (never up when they connect).
 */
export const remainingBudget = (stats: IntroductionStats, nowMs: number, policy: PeerPolicy): number => {
  const fresh = nowMs - stats.windowStartMs >= policy.introductionWindowMs
  const perWindow = isCredible(stats) ? policy.maxNewPerCredibleWindow : policy.maxNewPerWindow
  const budget = Math.floor(perWindow * Math.min(1, (stats.connected + 1) / (stats.failed + 1)))
  return Math.max(0, budget - (fresh ? 0 : stats.inWindow))
}

/**
 * Classifies each entry of `introducer`'s answer (`Admission`) and charges the `New` ones to its
 * budget. Entries are taken in the answer's order: once the per-answer or the window budget is spent,
 * every further unknown peer is `OverBudget`. Refreshes of known peers cost nothing.
 */
export const admitIntroductions = (
  table: PeerTable,
  introducer: PeerId,
  infos: ReadonlyArray<SignedNodeInfo>,
  nowMs: number
): Transition<ReadonlyArray<Admission>> => {
  const policy = table.policy
  const stats = recordOf(table, introducer)?.introductions
  const credible = isCredible(stats)
  const perAnswer = credible ? policy.maxNewPerCredibleAnswer : policy.maxNewPerAnswer
  let budget = Math.min(perAnswer, stats === undefined ? policy.maxNewPerWindow : remainingBudget(stats, nowMs, policy))
  const admittedNew = new Set<PeerId>()
  // Peers in the table that another introducer told us of and this credible one now reports too (with any
  // copy: what we hold was verified): a second credible voice, as a refresh would be, so they become
  // servable. Without it a peer learnt from one credible relay stayed unserved until its next re-signed
  // NodeInfo happened to come from another credible relay.
  const seconded: Array<PeerId> = []
  const admissions = infos.map((signed): Admission => {
    const peerId = signed.info.peerId
    if (admittedNew.has(peerId)) return "NotNewer" // a duplicate within the answer: the first copy is checked
    const existing = recordOf(table, peerId)
    if (existing?.info !== undefined || peerId === table.self) {
      if (credible && existing !== undefined && !existing.corroborated && existing.introducedBy !== undefined && existing.introducedBy !== introducer) {
        seconded.push(peerId)
      }
      return isNewerThanHeld(table, signed) ? "Refresh" : "NotNewer"
    }
    const held = Option.getOrUndefined(HashMap.get(table.probation, peerId))
    if (held !== undefined && held.introducedBy === introducer) {
      // Its own introduction again: a newer NodeInfo is worth checking, but introduces nobody new.
      return held.info.info.timestampMs < signed.info.timestampMs ? "Refresh" : "NotNewer"
    }
    // Another introducer of a peer on probation, with the very NodeInfo we verified: a second voice that
    // may promote it (mergeNodeInfos decides), so it spends the budget like a new peer — free, one
    // credible liar promoted another's whole probation bucket per answer (150 minted identities in one
    // honest table at 200 nodes) — but needs no signature check. A different (newer) NodeInfo is "New".
    if (budget <= 0) return "OverBudget"
    if (held !== undefined && bytesEqual(encodeSignedNodeInfo(held.info), encodeSignedNodeInfo(signed))) {
      budget -= 1
      admittedNew.add(peerId)
      return "Corroborates"
    }
    budget -= 1
    admittedNew.add(peerId)
    return "New"
  })
  let current = table
  for (const peerId of seconded) current = updateRecord(current, peerId, (r) => ({ ...r, corroborated: true }), nowMs)
  if (admittedNew.size === 0) return unchanged(current, admissions)
  const charged = updateRecord(
    current,
    introducer,
    (r) => {
      const fresh = nowMs - r.introductions.windowStartMs >= policy.introductionWindowMs
      const windowStartMs = fresh ? nowMs : r.introductions.windowStartMs
      const inWindow = (fresh ? 0 : r.introductions.inWindow) + admittedNew.size
      return { ...r, introductions: { ...r.introductions, windowStartMs, inWindow } }
    },
    nowMs
  )
  return unchanged(charged, admissions)
}

/**
 * Whether an introducer with these stats is charged `FailedIntroductions` (called after each failure).
 * Separate from credibility: a responder can lose credibility (its later introductions wait on
 * probation again) long before it is charged.
 */
export const chargesIntroducer = (stats: IntroductionStats): boolean =>
  stats.failed % INTRODUCTION_CHARGE_EVERY === 0 && stats.failed > INTRODUCTION_FAILURE_RATIO * stats.connected

/**
 * Credits (`connected`) or charges the first dial of a peer `introducer` introduced to it; answers
 * whether the introducer became banned (`chargesIntroducer`).
 */
export const judgeIntroducer = (table: PeerTable, introducer: PeerId, connected: boolean, nowMs: number): Transition<boolean> => {
  const wasCredible = isCredible(recordOf(table, introducer)?.introductions)
  const updated = updateRecord(
    table,
    introducer,
    (r) => ({
      ...r,
      introductions: connected
        ? { ...r.introductions, connected: r.introductions.connected + 1, streak: r.introductions.streak + 1 }
        : { ...r.introductions, failed: r.introductions.failed + 1, streak: 0 }
    }),
    nowMs
  )
  const stats = recordOf(updated, introducer)?.introductions
  // Discredited by this failure: what it introduced while credible skipped probation, so every one of
  // those never reached goes (the reached ones proved themselves).
  const discredited = wasCredible && !isCredible(stats) ? dropUntriedIntroductions(updated, introducer, nowMs) : unchanged(updated, [])
  if (connected) {
    // Its streak grew: so may what it is trusted with, and its introductions waiting on probation get it.
    const promoted = promoteProvenIntroductions(discredited.table, introducer, nowMs)
    return { table: promoted.table, changes: [...discredited.changes, ...promoted.changes], value: false }
  }
  if (stats === undefined || !chargesIntroducer(stats)) return { ...discredited, value: false }
  const charged = reportOffence(discredited.table, introducer, "FailedIntroductions", nowMs)
  return { ...charged, changes: [...discredited.changes, ...charged.changes] }
}

/**
 * The first dial of `peerId` ended (`connected` or not): if someone introduced it and it was never
 * dialled or called before, the outcome is credited to or charged against its introducer. Run before
 * the dial's own result is recorded (which makes the peer "tried"). Answers whether the introducer
 * became banned.
 */
export const judgeIntroduction = (table: PeerTable, peerId: PeerId, connected: boolean, nowMs: number): Transition<boolean> => {
  const record = recordOf(table, peerId)
  const introducer = record?.introducedBy
  if (record === undefined || introducer === undefined || record.successes + record.failures > 0) return unchanged(table, false)
  return judgeIntroducer(table, introducer, connected, nowMs)
}
