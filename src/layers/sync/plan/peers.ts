/**
 * Sync's view of peers, as pure transitions of the plan: their claims (hints), what they have proven
 * (facts), requests in flight, short backoffs after failures, and bans after provable lies — each ban
 * recorded as an offence that the loop reports to the peer ledger. Also which peer gets the next request.
 */
import type { PeerId } from "../../../domain/PeerId.js"
import type { InvalidDataReason } from "../../metrics/definitions.js"
import { BAN_DURATION_MS } from "../../peers/policy.js"
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS } from "../constants.js"
import type { SyncOffence, SyncPeer, SyncPlan, SyncPlanConfig } from "./types.js"

const noClaim: SyncPeer = { highest: -1, proven: 0, lowest: 0, inflight: 0, failures: 0, backoffUntil: 0, bannedUntil: 0 }

export const updatePeer = (plan: SyncPlan, peer: PeerId, f: (p: SyncPeer) => SyncPeer): SyncPlan => {
  const peers = new Map(plan.peers)
  peers.set(peer, f(plan.peers.get(peer) ?? noClaim))
  return { ...plan, peers }
}

/** Whether the peer is banned at `now`. */
export const isBanned = (peer: SyncPeer | undefined, now: number): boolean => peer !== undefined && peer.bannedUntil > now

/** A peer reported its heights (GetCommitAvailability). Claims of banned peers are ignored. */
export const onPeerHeights = (plan: SyncPlan, peer: PeerId, highest: number, lowest: number, now: number): SyncPlan => {
  if (isBanned(plan.peers.get(peer), now)) return plan
  return updatePeer(plan, peer, (p) => ({ ...p, highest, lowest }))
}

/** A peer pushed a new commit index (PushCommit): it can only raise its claim. */
export const onPeerPushed = (plan: SyncPlan, peer: PeerId, index: number, now: number): SyncPlan => {
  const current = plan.peers.get(peer)
  if (current === undefined || isBanned(current, now)) return plan
  return updatePeer(plan, peer, (p) => ({ ...p, highest: Math.max(p.highest, index) }))
}

/** A peer disconnected: its claims go; its in-flight requests fail on their own. */
export const onPeerGone = (plan: SyncPlan, peer: PeerId): SyncPlan => {
  const current = plan.peers.get(peer)
  if (current === undefined) return plan
  // Keep the entry while requests are in flight or a ban runs, so counters and bans stay right.
  return updatePeer(plan, peer, (p) => ({ ...p, highest: -1 }))
}

export const succeeded = (plan: SyncPlan, peer: PeerId): SyncPlan =>
  updatePeer(plan, peer, (p) => ({ ...p, inflight: Math.max(0, p.inflight - 1), failures: 0 }))

export const failed = (plan: SyncPlan, peer: PeerId, now: number): SyncPlan =>
  updatePeer(plan, peer, (p) => {
    const failures = p.failures + 1
    return {
      ...p,
      inflight: Math.max(0, p.inflight - 1),
      failures,
      backoffUntil: now + Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1))
    }
  })

export const banned = (plan: SyncPlan, peer: PeerId, now: number): SyncPlan =>
  updatePeer(plan, peer, (p) => ({ ...p, inflight: Math.max(0, p.inflight - 1), highest: -1, bannedUntil: now + BAN_DURATION_MS }))

/**
 * The peer ledger banned a peer (for a sync offence reported by the loop, or for anything else it saw):
 * the ledger's expiry replaces the provisional one, and its claims are dropped. Bans are decided there
 * alone; the plan only bans provisionally, at once, so that no request goes to a liar before the
 * ledger's answer arrives.
 */
export const onPeerBanned = (plan: SyncPlan, peer: PeerId, untilMs: number): SyncPlan =>
  updatePeer(plan, peer, (p) => ({ ...p, highest: -1, bannedUntil: untilMs }))

/** Bans a peer outright (e.g. it pushed nonsense); its claims are dropped. */
export const banPeer = (plan: SyncPlan, peer: PeerId, now: number): SyncPlan =>
  updatePeer(plan, peer, (p) => ({ ...p, highest: -1, bannedUntil: now + BAN_DURATION_MS }))

/** Records an offence for the loop to report. */
export const offence = (plan: SyncPlan, peer: PeerId, reason: InvalidDataReason, detail: string): SyncPlan => ({
  ...plan,
  offences: [...plan.offences, { peer, reason, detail }]
})

/** The offences recorded since the last call, and the plan without them. */
export const takeOffences = (plan: SyncPlan): { readonly plan: SyncPlan; readonly offences: ReadonlyArray<SyncOffence> } =>
  plan.offences.length === 0 ? { plan, offences: [] } : { plan: { ...plan, offences: [] }, offences: plan.offences }

/**
 * An empty answer from `start` by a peer that has not proven `start`: "not yet" (its claim ran ahead of
 * what it can serve, or raced a push). No penalty; it backs off like a failure and its claim drops below
 * `start` until it claims again.
 */
export const notYet = (plan: SyncPlan, peer: PeerId, start: number, now: number): SyncPlan =>
  updatePeer(failed(plan, peer, now), peer, (p) => ({ ...p, highest: Math.min(p.highest, start - 1) }))

/** The highest commit any usable peer claims (the sync target). */
export const targetHeight = (plan: SyncPlan, now: number): number => {
  let target = plan.nextIndex - 1
  for (const p of plan.peers.values()) if (!isBanned(p, now) && p.highest > target) target = p.highest
  return target
}

export const available = (p: SyncPeer, now: number, config: SyncPlanConfig): boolean =>
  !isBanned(p, now) && p.backoffUntil <= now && p.inflight < config.maxRequestsPerPeer

/** The least loaded usable peer that claims `index` (ties: fewer failures, then rotation by `salt`). */
export const pickPeer = (plan: SyncPlan, index: number, now: number, config: SyncPlanConfig, salt: number): PeerId | undefined => {
  const candidates = [...plan.peers.entries()].filter(([, p]) => available(p, now, config) && p.lowest <= index && p.highest >= index)
  if (candidates.length === 0) return undefined
  candidates.sort(([a, pa], [b, pb]) => pa.inflight - pb.inflight || pa.failures - pb.failures || (a < b ? -1 : 1))
  const best = candidates.filter(([, p]) => p.inflight === candidates[0]![1].inflight && p.failures === candidates[0]![1].failures)
  return best[salt % best.length]![0]
}

export const reserve = (plan: SyncPlan, peer: PeerId): SyncPlan => updatePeer(plan, peer, (p) => ({ ...p, inflight: p.inflight + 1 }))

