/**
 * Pure ranking of the ledger's peers: which are eligible to dial, how good each one is (success rate,
 * RTT, reputation; an untried peer's expected success is its introducer's record), who to dial next
 * (allowlisted first, then peers whose capabilities fit what the node needs, then quality with random
 * jitter for diversity), which connection to drop when above target, which NodeInfos may be served, and
 * which records are evicted first. Randomness comes in as an `Rng`, so every choice is reproducible.
 *
 * Serving and eviction rank by what this node observed (`byObservation`) — connected now, how our dials
 * and calls went, who introduced the peer and how long we have known it — never by the timestamp its
 * signer chose: a liar dates its identities at now + 29 s for free, which outranked every honest entry.
 */
import { HashMap } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import type { SignedNodeInfo } from "../../domain/nodeInfo.js"
import type { PeerPolicy, PeerRecord, ServableRequest } from "../../services/PeerManager.js"
import { isDiscredited, isProven } from "./credibility.js"
import { DIAL_JITTER, DISCREDITED_DISCOUNT, FAILURE_DISCOUNT, QUALITY_WEIGHTS, RTT_REFERENCE_MS } from "./policy.js"
import type { Rng } from "./prng.js"
import { decayedScore, introducerTrust, isBannedAt } from "./reputation.js"
import type { PeerTable } from "./table.js"

/** Whether a dial or connection is open or under way (such a record is never dialled again or evicted). */
export const isConnectedOrDialling = (record: PeerRecord): boolean =>
  record.connection._tag === "Connected" || record.connection._tag === "Dialling"

/**
 * Where to dial a peer: its configured address (seed, allowlist) or one of its advertised addresses,
 * moving on to the next one after each consecutive failure.
 */
export const dialAddress = (record: PeerRecord): string | undefined => {
  if (record.configuredAddress !== undefined) return record.configuredAddress
  const addresses = record.info?.info.addresses ?? []
  return addresses.length === 0 ? undefined : addresses[record.consecutiveFailures % addresses.length]
}

/** Not connected, not being dialled, not banned, not backing off, and with an address. */
export const isEligibleForDial = (record: PeerRecord, nowMs: number): boolean =>
  !isConnectedOrDialling(record) && !isBannedAt(record, nowMs) && record.backoffUntilMs <= nowMs && dialAddress(record) !== undefined

/** Whether the peer advertises every wanted capability (no wish: everyone fits). */
export const fitsCapabilities = (record: PeerRecord, wanted: number): boolean =>
  wanted === 0 || (record.info !== undefined && (record.info.info.capabilities & wanted) === wanted)

/**
 * Quality in [0, 1]: smoothed success rate, RTT factor (½ when unknown) and reputation, discounted for
 * each consecutive failure (`FAILURE_DISCOUNT`). The success rate starts from `prior` (worth two tries)
 * before any dial or call: ½, or the introducer's trust.
 */
export const quality = (record: PeerRecord, nowMs: number, policy: PeerPolicy, prior = 0.5): number => {
  const successRate = (record.successes + 2 * prior) / (record.successes + record.failures + 2)
  const rtt = record.rttMs === undefined ? 0.5 : RTT_REFERENCE_MS / (RTT_REFERENCE_MS + record.rttMs)
  const reputation = Math.min(1, Math.max(0, 1 + decayedScore(record, nowMs, policy) / -policy.banThreshold))
  const value = QUALITY_WEIGHTS.successRate * successRate + QUALITY_WEIGHTS.rtt * rtt + QUALITY_WEIGHTS.reputation * reputation
  return value * Math.pow(FAILURE_DISCOUNT, Math.min(record.consecutiveFailures, 10))
}

/**
 * The expected success of dialling a peer before we tried: its introducer's trust (`introducerTrust`),
 * ½ for configured or self-announced peers and introducers we no longer know.
 */
export const priorOf = (table: PeerTable, record: PeerRecord): number => {
  if (record.introducedBy === undefined) return 0.5
  const introducer = HashMap.get(table.peers, record.introducedBy)
  return introducer._tag === "Some" ? introducerTrust(introducer.value.introductions) : 0.5
}

/** A record's quality with its introducer's trust as the prior, discounted while it is discredited (`DISCREDITED_DISCOUNT`). */
export const observedQuality = (table: PeerTable, record: PeerRecord, nowMs: number): number =>
  quality(record, nowMs, table.policy, priorOf(table, record)) * (isDiscredited(record.introductions) ? DISCREDITED_DISCOUNT : 1)

/**
 * What this node has seen of a peer itself: 3 connected now, 2 connected or answered before, 1 never
 * tried, 0 tried and never reached (a fake identity ends here after one dial).
 */
export const observedTier = (record: PeerRecord): number =>
  record.connection._tag === "Connected" ? 3 : record.successes > 0 ? 2 : record.failures === 0 ? 1 : 0

/** A NodeInfo's timestamp as a last tie-breaker: never later than now (the signer may date it 30 s ahead). */
export const clampedTimestamp = (record: PeerRecord, nowMs: number): number => Math.min(record.info?.info.timestampMs ?? -1, nowMs)

interface Observed {
  readonly record: PeerRecord
  readonly tier: number
  readonly value: number
}

const observe = (table: PeerTable, record: PeerRecord, nowMs: number): Observed => ({
  record,
  tier: observedTier(record),
  value: observedQuality(table, record, nowMs)
})

/**
 * Best first by observation: tier, then quality (with the introducer's trust for untried peers), then
 * the longest known (a flood of fresh identities is always the newest), then the clamped timestamp.
 */
const byObservation =
  (nowMs: number) =>
  (a: Observed, b: Observed): number =>
    b.tier - a.tier ||
    b.value - a.value ||
    a.record.firstSeenMs - b.record.firstSeenMs ||
    clampedTimestamp(b.record, nowMs) - clampedTimestamp(a.record, nowMs) ||
    (a.record.peerId < b.record.peerId ? -1 : a.record.peerId > b.record.peerId ? 1 : 0)

interface Ranked {
  readonly record: PeerRecord
  readonly allowlisted: boolean
  readonly fits: boolean
  readonly value: number
}

/** Best first: allowlisted, then fitting capabilities, then value; PeerId breaks ties. */
const byRank = (a: Ranked, b: Ranked): number =>
  Number(b.allowlisted) - Number(a.allowlisted) ||
  Number(b.fits) - Number(a.fits) ||
  b.value - a.value ||
  (a.record.peerId < b.record.peerId ? -1 : a.record.peerId > b.record.peerId ? 1 : 0)

const records = (table: PeerTable): Array<PeerRecord> => Array.from(HashMap.values(table.peers))

/** Records sorted by PeerId, so that iteration order never depends on the hash map's layout. */
export const sortedRecords = (table: PeerTable): Array<PeerRecord> =>
  records(table).sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))

/** The `count` best eligible peers to dial, ranked with jitter from `rng`, best first. */
export const chooseDials = (
  table: PeerTable,
  nowMs: number,
  count: number,
  wanted: number,
  rng: Rng,
  exclude: ReadonlySet<PeerId> = new Set()
): Array<PeerRecord> => {
  if (count <= 0) return []
  return sortedRecords(table)
    .filter((r) => !exclude.has(r.peerId) && isEligibleForDial(r, nowMs))
    .map(
      (record): Ranked => ({
        record,
        allowlisted: record.allowlisted,
        fits: fitsCapabilities(record, wanted),
        value: observedQuality(table, record, nowMs) + rng() * DIAL_JITTER
      })
    )
    .sort(byRank)
    .slice(0, count)
    .map((r) => r.record)
}

/** One eligible peer chosen uniformly at random (exploration: rotation ignores rank on purpose). */
export const chooseExploration = (table: PeerTable, nowMs: number, rng: Rng): PeerRecord | undefined => {
  const eligible = sortedRecords(table).filter((r) => isEligibleForDial(r, nowMs))
  return eligible.length === 0 ? undefined : eligible[Math.floor(rng() * eligible.length)]
}

/**
 * Connections to drop so that at most `target` remain: the worst-ranked ones, never allowlisted peers
 * nor those in `keep`. `connected` is the network's list (the truth), not the table's view.
 */
export const chooseTrim = (
  table: PeerTable,
  nowMs: number,
  connected: ReadonlyArray<PeerId>,
  target: number,
  wanted: number,
  keep: ReadonlySet<PeerId> = new Set()
): Array<PeerId> => {
  const excess = connected.length - target
  if (excess <= 0) return []
  return connected
    .map((peerId) => HashMap.get(table.peers, peerId))
    .flatMap((found) => (found._tag === "Some" ? [found.value] : []))
    .filter((r) => !r.allowlisted && !keep.has(r.peerId))
    .map((record): Ranked => ({ record, allowlisted: false, fits: fitsCapabilities(record, wanted), value: observedQuality(table, record, nowMs) }))
    .sort(byRank)
    .reverse()
    .slice(0, excess)
    .map((r) => r.record.peerId)
}

/**
 * Whether `introducer`'s word is enough to pass its untried introductions on: credible now
 * (`credibility.ts`) and proven (`isProven`: a liar credible by luck rarely is).
 */
const introducerIsProven = (table: PeerTable, introducer: PeerId): boolean => {
  const record = HashMap.get(table.peers, introducer)
  return record._tag === "Some" && isProven(record.value.introductions)
}

/**
 * NodeInfos we may serve, at most `limit`, best observed first (`byObservation`): verified, not banned,
 * not a responder whose introductions we found mostly dead (`isDiscredited`: we do not recommend a peer
 * caught lying to us, even before its charges ban it), not `exclude` (the caller), not dialled and never
 * reached (tier 0: what a fake identity becomes after one dial — relaying it would spread a liar's work), an introduction only if we reached it, a second
 * credible introducer reported it (`corroborated`) or its introducer is credible with a long enough streak
 * (`introducerIsProven`: the moment a feeler discredits it, its untested introductions are dropped), and
 * young enough that they cannot expire on the way (`minRemainingMs`). Serving only reached or corroborated
 * peers left honest peers learnt from one credible relay unserved for ever in a small network (an honest
 * node served 27 of its 35 honest peers beside the 4 attackers that had called it).
 */
export const servableNodeInfos = (table: PeerTable, nowMs: number, request: ServableRequest): Array<SignedNodeInfo> =>
  records(table)
    .filter(
      (r) =>
        r.info !== undefined &&
        r.peerId !== request.exclude &&
        !isBannedAt(r, nowMs) &&
        !isDiscredited(r.introductions) &&
        observedTier(r) > 0 &&
        (r.introducedBy === undefined || r.corroborated || r.successes > 0 || introducerIsProven(table, r.introducedBy)) &&
        nowMs - r.info.info.timestampMs < table.policy.maxInfoAgeMs - request.minRemainingMs
    )
    .map((r) => observe(table, r, nowMs))
    .sort(byObservation(nowMs))
    .slice(0, Math.max(0, request.limit))
    .flatMap((o) => (o.record.info === undefined ? [] : [o.record.info]))

/**
 * Records in the order they are evicted when the table is over its cap: never connected, dialling,
 * seed or allowlisted ones; banned ones last (so a flood cannot wash a ban away); otherwise the worst
 * observed first (`byObservation` reversed) — among untried peers of equally trusted introducers, the
 * most recently heard of, so a flood of fresh identities evicts itself, not what we knew before it.
 */
export const evictionOrder = (table: PeerTable, nowMs: number): Array<PeerRecord> => {
  const best = byObservation(nowMs)
  return records(table)
    .filter((r) => !isConnectedOrDialling(r) && !r.seed && !r.allowlisted)
    .map((record) => ({ observed: observe(table, record, nowMs), banned: isBannedAt(record, nowMs) }))
    .sort((a, b) => Number(a.banned) - Number(b.banned) || best(b.observed, a.observed))
    .map((r) => r.observed.record)
}
