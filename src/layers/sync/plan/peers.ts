/**
 * Sync's view of peers, as pure transitions of the plan: their claims (hints), what they have proven
 * (facts), whether they are connected, requests in flight, short backoffs after failures, claims
 * discarded when nobody is served them, and bans after provable lies — each ban or refused claim
 * recorded as an offence that the loop reports to the peer ledger. Also which peer gets the next request,
 * and the table's bounds (entries of peers gone for a while are dropped, and there is a cap).
 */
import type { PeerId } from "../../../domain/PeerId.js"
import { BAN_DURATION_MS } from "../../peers/policy.js"
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, CLAIM_FAILURES_TO_DISCARD, CLAIM_QUARANTINE_MS } from "../constants.js"
import type { PeerTableLimits, SyncOffence, SyncOffenceReason, SyncPeer, SyncPlan, SyncPlanConfig } from "./types.js"

/** A peer sync knows nothing of: no claim, not connected (an entry made by a late result is dropped soon). */
const noClaim: SyncPeer = {
  highest: -1,
  proven: 0,
  lowest: 0,
  inflight: 0,
  failures: 0,
  backoffUntil: 0,
  bannedUntil: 0,
  connected: false,
  goneAt: 0,
  claimFailures: 0,
  claimRefusals: 0,
  claimIgnoredUntil: 0
}

export const updatePeer = (plan: SyncPlan, peer: PeerId, f: (p: SyncPeer) => SyncPeer): SyncPlan => {
  const peers = new Map(plan.peers)
  peers.set(peer, f(plan.peers.get(peer) ?? noClaim))
  return { ...plan, peers }
}

/** Whether the peer is banned at `now`. */
export const isBanned = (peer: SyncPeer | undefined, now: number): boolean => peer !== undefined && peer.bannedUntil > now

/** The claim a peer may hold at `now`: none above what it proved while its last refused claim is ignored. */
const admitClaim = (p: SyncPeer, claim: number, now: number): number => (p.claimIgnoredUntil > now ? Math.min(claim, p.proven) : claim)

/**
 * A peer reported its heights (GetCommitAvailability). It answered, so it is connected (sync asks on
 * connect and polls connected peers). Claims of banned peers are ignored.
 */
export const onPeerHeights = (plan: SyncPlan, peer: PeerId, highest: number, lowest: number, now: number): SyncPlan => {
  if (isBanned(plan.peers.get(peer), now)) return plan
  return updatePeer(plan, peer, (p) => ({ ...p, highest: admitClaim(p, highest, now), lowest, connected: true, goneAt: 0 }))
}

/**
 * A peer pushed a new commit index (PushCommit): it can only raise its claim, and only while it is
 * connected — a hint queued before a disconnect, or sent by a peer sync does not follow, changes nothing.
 */
export const onPeerPushed = (plan: SyncPlan, peer: PeerId, index: number, now: number): SyncPlan => {
  const current = plan.peers.get(peer)
  if (current === undefined || !current.connected || isBanned(current, now)) return plan
  return updatePeer(plan, peer, (p) => ({ ...p, highest: Math.max(p.highest, admitClaim(p, index, now)) }))
}

/** A peer disconnected: its claims go; its in-flight requests fail on their own; its entry is dropped later (`prunePeers`). */
export const onPeerGone = (plan: SyncPlan, peer: PeerId, now: number): SyncPlan => {
  const current = plan.peers.get(peer)
  if (current === undefined) return plan
  // Keep the entry for a while (and while requests are in flight or a ban runs), so counters and bans stay right.
  return updatePeer(plan, peer, (p) => ({ ...p, highest: -1, connected: false, goneAt: now }))
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

/** Records an offence for the loop to report: invalid data unless said otherwise (an unserved claim). */
export const offence = (plan: SyncPlan, peer: PeerId, reason: SyncOffenceReason, detail: string): SyncPlan => ({
  ...plan,
  offences: [...plan.offences, { peer, offence: reason === "unserved_claim" ? "ProtocolViolation" : "InvalidData", reason, detail }]
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
  // An honest answer about its claim: the unserved-claim count starts again.
  updatePeer(failed(plan, peer, now), peer, (p) => ({ ...p, highest: Math.min(p.highest, start - 1), claimFailures: 0, claimRefusals: 0 }))

/** It served commits up to `index`, verified: a fact, and its claim is being served. */
export const proved = (plan: SyncPlan, peer: PeerId, index: number): SyncPlan =>
  updatePeer(succeeded(plan, peer), peer, (p) => (index > p.proven ? { ...p, proven: index, claimFailures: 0, claimRefusals: 0 } : p))

/**
 * A commit fetch from `start` failed (`refused`: the peer answered with an error). At or below what it
 * proved, that is an ordinary failure: a backoff. Above it, it is the peer's *claim* going unserved;
 * after CLAIM_FAILURES_TO_DISCARD of those in a row the claim is discarded — down to what it proved —
 * so that it no longer steers the target. Slowness never costs more than that (its next height answer
 * restores the claim). If every one of them was a refusal, it is there and will not serve what it
 * claimed: an offence for the ledger, and its claims above what it proved are ignored for a while.
 */
export const claimUnserved = (plan: SyncPlan, peer: PeerId, start: number, refused: boolean, now: number): SyncPlan => {
  const next = failed(plan, peer, now)
  const p = next.peers.get(peer)
  if (p === undefined || start <= p.proven || p.highest < start) return next
  const claimFailures = p.claimFailures + 1
  const claimRefusals = p.claimRefusals + (refused ? 1 : 0)
  if (claimFailures < CLAIM_FAILURES_TO_DISCARD) return updatePeer(next, peer, (q) => ({ ...q, claimFailures, claimRefusals }))
  const wasRefused = claimRefusals >= claimFailures
  const discarded = updatePeer(next, peer, (q) => ({
    ...q,
    highest: Math.min(q.highest, q.proven),
    claimFailures: 0,
    claimRefusals: 0,
    claimIgnoredUntil: wasRefused ? now + CLAIM_QUARANTINE_MS : q.claimIgnoredUntil
  }))
  if (!wasRefused) return discarded
  const detail = `claimed commit ${p.highest} and refused ${claimFailures} requests from commit ${start} after proving only commit ${p.proven}`
  return offence(discarded, peer, "unserved_claim", detail)
}

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

// --- the table's bounds ---------------------------------------------------------------------------

/** Whether an entry may be dropped at all: a request in flight still has to settle its counters. */
const droppable = (p: SyncPeer): boolean => p.inflight === 0

/**
 * Drops the entries of peers gone longer than `goneRetentionMs` — what they claimed went when they left,
 * and what they proved is stale — unless a request to one is in flight or its ban runs (the plan must
 * not take a banned peer's claims; the ledger's own ban outlives the entry). Run on every tick.
 */
export const prunePeers = (plan: SyncPlan, now: number, limits: PeerTableLimits): SyncPlan => {
  let peers: Map<PeerId, SyncPeer> | undefined
  for (const [id, p] of plan.peers)
    if (!p.connected && droppable(p) && !isBanned(p, now) && now - p.goneAt >= limits.goneRetentionMs) {
      peers ??= new Map(plan.peers)
      peers.delete(id)
    }
  return peers === undefined ? plan : { ...plan, peers }
}

/** Eviction order under the cap: the least useful entries first. */
const evictionRank = (p: SyncPeer, now: number): number => (p.connected ? (isBanned(p, now) ? 2 : 3) : isBanned(p, now) ? 1 : 0)

/**
 * Keeps the table within `maxPeers` whatever churn of identities it sees: over it, entries go in the
 * order gone peers (longest gone first), gone banned ones (ban ending first), connected banned ones,
 * then connected ones with the lowest claim (a peer the poll still reaches is re-added by its next
 * answer, so no claim is lost for long). Entries with a request in flight stay, so the table exceeds
 * the cap by at most the requests in flight. Run after every event.
 */
export const boundPeers = (plan: SyncPlan, now: number, limits: PeerTableLimits): SyncPlan => {
  const excess = plan.peers.size - limits.maxPeers
  if (excess <= 0) return plan
  const victims = [...plan.peers.entries()]
    .filter(([, p]) => droppable(p))
    .sort(([, a], [, b]) => evictionRank(a, now) - evictionRank(b, now) || a.goneAt - b.goneAt || a.bannedUntil - b.bannedUntil || a.highest - b.highest)
    .slice(0, excess)
  const peers = new Map(plan.peers)
  for (const [id] of victims) peers.delete(id)
  return { ...plan, peers }
}
