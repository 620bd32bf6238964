/**
 * Pure rules over one peer record: score decay, penalties and bans (and how many of each this node
 * gave), dial backoff, and the success counters and RTT estimate that ranking reads. Every function takes the time explicitly, so the same
 * inputs always give the same record.
 */
import { isFault, type IntroductionStats, type Offence, type PeerPolicy, type PeerRecord } from "../../services/PeerManager.js"
import type { PeerId } from "../../domain/PeerId.js"

/** A record for a peer we know nothing about yet, first heard of at `nowMs`. */
export const newRecord = (peerId: PeerId, nowMs = 0, introducedBy?: PeerId): PeerRecord => ({
  peerId,
  firstSeenMs: nowMs,
  introducedBy,
  corroborated: false,
  introductions: { windowStartMs: nowMs, inWindow: 0, connected: 0, failed: 0, streak: 0 },
  info: undefined,
  configuredAddress: undefined,
  seed: false,
  allowlisted: false,
  connection: { _tag: "Disconnected", sinceMs: undefined },
  backoffUntilMs: 0,
  consecutiveFailures: 0,
  successes: 0,
  failures: 0,
  rttMs: undefined,
  score: 0,
  scoreAtMs: 0,
  bannedUntilMs: 0,
  bans: 0,
  penalties: 0,
  lastOffence: undefined
})

/** The score at `nowMs`: it halves towards 0 every half-life. */
export const decayedScore = (record: PeerRecord, nowMs: number, policy: PeerPolicy): number =>
  record.score === 0 ? 0 : record.score * Math.pow(0.5, Math.max(0, nowMs - record.scoreAtMs) / policy.scoreHalfLifeMs)

/** Whether the peer is banned at `nowMs` (bans expire on their own). */
export const isBannedAt = (record: PeerRecord, nowMs: number): boolean => nowMs < record.bannedUntilMs

/** How long the next ban of this peer lasts: doubled for every earlier ban, capped. */
export const nextBanDurationMs = (record: PeerRecord, policy: PeerPolicy): number =>
  Math.min(policy.maxBanDurationMs, policy.banDurationMs * Math.pow(2, record.bans))

/**
 * Applies an offence's penalty. Faults never push the score below the fault floor (but keep it where
 * misbehaviour put it). Crossing the ban threshold while not banned starts a ban. Misbehaviour (not
 * faults) counts in `penalties`, every ban in `bans`.
 */
export const applyOffence = (
  record: PeerRecord,
  offence: Offence,
  nowMs: number,
  policy: PeerPolicy
): { readonly record: PeerRecord; readonly banned: boolean } => {
  const current = decayedScore(record, nowMs, policy)
  const penalised = current - policy.penalties[offence]
  const score = isFault(offence) ? Math.max(penalised, Math.min(current, policy.faultScoreFloor)) : penalised
  const penalties = isFault(offence) ? record.penalties : record.penalties + 1
  const updated: PeerRecord = { ...record, score, scoreAtMs: nowMs, penalties, lastOffence: offence }
  if (isBannedAt(record, nowMs) || score > policy.banThreshold) return { record: updated, banned: false }
  return {
    record: { ...updated, bannedUntilMs: nowMs + nextBanDurationMs(record, policy), bans: record.bans + 1 },
    banned: true
  }
}

/** Backoff after the n-th consecutive failure (n ≥ 1): base · 2^(n−1), capped. */
export const backoffMs = (consecutiveFailures: number, policy: PeerPolicy): number =>
  consecutiveFailures <= 0 ? 0 : Math.min(policy.backoffMaxMs, policy.backoffBaseMs * Math.pow(2, Math.min(consecutiveFailures - 1, 30)))

/** A failed dial or call: counts it and backs off. */
export const recordFailure = (record: PeerRecord, nowMs: number, policy: PeerPolicy): PeerRecord => {
  const consecutiveFailures = record.consecutiveFailures + 1
  return {
    ...record,
    consecutiveFailures,
    failures: record.failures + 1,
    backoffUntilMs: nowMs + backoffMs(consecutiveFailures, policy)
  }
}

/** A successful dial or call: resets the backoff and folds the RTT sample into the average. */
export const recordSuccess = (record: PeerRecord, rttMs: number | undefined, policy: PeerPolicy): PeerRecord => ({
  ...record,
  consecutiveFailures: 0,
  successes: record.successes + 1,
  backoffUntilMs: 0,
  rttMs:
    rttMs === undefined || !Number.isFinite(rttMs) || rttMs < 0
      ? record.rttMs
      : record.rttMs === undefined
        ? rttMs
        : record.rttMs + policy.rttSmoothing * (rttMs - record.rttMs)
})

/**
 * How far an introducer's word goes, in (0, 1): the share of its introductions that connected when
 * dialled, starting from ½ with nothing judged (a Laplace estimate, so one early failure is not damning).
 */
export const introducerTrust = (stats: IntroductionStats): number => (stats.connected + 1) / (stats.connected + stats.failed + 2)
