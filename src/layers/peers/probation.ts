/**
 * Pure rules of probation (Bitcoin addrman's "new" table, before "tried"): a peer we first hear of from
 * a responder's GetKnownPeers answer is not stored in the peer table — keys are free, and a liar's fake
 * identities (valid signatures, addresses nobody listens on) would fill a small table because nobody
 * dials them. It waits here, bucketed by introducer, never served and never counted as known, until a
 * second, distinct introducer reports it (one of the two must vouch: `vouches` in `table.ts`), we dial
 * it successfully, or its introducer (or a reporter) is proven and has allowance left (all three promote
 * it to the table; see `table.ts`, `promoteProvenIntroductions`, and `connections.ts`); a failed dial
 * drops it and counts against its introducer, and a banned introducer's entries are dropped. Bounds:
 * `MAX_PROBATION_PER_INTRODUCER` per introducer and `MAX_PROBATION` in all (`policy.ts`); a full bucket
 * or a full set makes room with the introducer's own oldest entries, so one source cannot push out others.
 */
import { HashMap } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import type { SignedNodeInfo } from "../../domain/nodeInfo.js"
import type { Rng } from "./prng.js"

/** A peer on probation: its newest verified NodeInfo, who introduced it first, and whether we dial it now. */
export interface ProbationEntry {
  readonly info: SignedNodeInfo
  readonly introducedBy: PeerId
  /** When this node first heard of it. */
  readonly firstSeenMs: number
  /** Set while a dial of it is under way (from `planDials` until `recordDialResult`). */
  readonly diallingSinceMs: number | undefined
  /**
   * Other introducers that reported it since, none of whose word promotes it (not credible), at most
   * `MAX_RECORDED_REPORTERS`: how widely it is known, which confirmation dials use to find the honest
   * peers a node still misses (`confirmations.ts`). Never a reason to believe it, nor to credit its
   * introducer when it is reached: liars repeat each other's identities.
   */
  readonly reportedBy: ReadonlyArray<PeerId>
  /**
   * Set while the dial under way is a confirmation dial (`confirmations.ts`): reached, the peer moves to the
   * table but its introducer is not credited, since these dials go to what the most voices reported, and
   * colluding liars all report their fellow attackers (real and reachable): crediting them made liars
   * credible (15–49 minted identities in one table at 400 nodes, none without). Failed, the introducer is
   * charged as usual.
   */
  readonly confirming?: true
}

/** Other reporters remembered per probation entry: enough to rank entries by how widely they are known. */
export const MAX_RECORDED_REPORTERS = 4

/** `entry` with `reporter` remembered among its other reporters (if new to it and there is room). */
export const withReporter = (entry: ProbationEntry, reporter: PeerId): ProbationEntry =>
  reporter === entry.introducedBy || entry.reportedBy.includes(reporter) || entry.reportedBy.length >= MAX_RECORDED_REPORTERS
    ? entry
    : { ...entry, reportedBy: [...entry.reportedBy, reporter] }

/** The probation set, by PeerId. */
export type Probation = HashMap.HashMap<PeerId, ProbationEntry>

/** Bounds of the probation set. */
export interface ProbationBounds {
  readonly perIntroducer: number
  readonly total: number
}

/** Oldest first (first sight, then PeerId, so that ties are reproducible). */
export const byAge = (a: ProbationEntry, b: ProbationEntry): number =>
  a.firstSeenMs - b.firstSeenMs || (a.info.info.peerId < b.info.info.peerId ? -1 : a.info.info.peerId > b.info.info.peerId ? 1 : 0)

/** The oldest entry among `entries`, or undefined. */
const oldest = (entries: ReadonlyArray<ProbationEntry>): ProbationEntry | undefined => [...entries].sort(byAge)[0]

/** Entries per introducer. */
export const bucketsOf = (probation: Probation): Map<PeerId, Array<ProbationEntry>> => {
  const buckets = new Map<PeerId, Array<ProbationEntry>>()
  for (const entry of HashMap.values(probation)) {
    const bucket = buckets.get(entry.introducedBy)
    if (bucket === undefined) buckets.set(entry.introducedBy, [entry])
    else bucket.push(entry)
  }
  return buckets
}

/**
 * Adds a peer not yet on probation, first making room: a full bucket drops its introducer's oldest
 * entry; a full set drops the introducer's own oldest if it has any, else the oldest entry of the
 * largest bucket (the source that holds the most pays). Answers the new set and the peers dropped.
 */
export const addToProbation = (
  probation: Probation,
  entry: ProbationEntry,
  bounds: ProbationBounds
): { readonly probation: Probation; readonly dropped: ReadonlyArray<PeerId> } => {
  if (bounds.perIntroducer <= 0 || bounds.total <= 0) return { probation, dropped: [] }
  const buckets = bucketsOf(probation)
  const own = buckets.get(entry.introducedBy) ?? []
  const dropped: Array<PeerId> = []
  let current = probation
  const drop = (victim: ProbationEntry | undefined) => {
    if (victim === undefined) return
    current = HashMap.remove(current, victim.info.info.peerId)
    dropped.push(victim.info.info.peerId)
  }
  if (own.length >= bounds.perIntroducer) {
    const victim = oldest(own)
    drop(victim)
    own.splice(own.indexOf(victim as ProbationEntry), 1)
  }
  if (HashMap.size(current) >= bounds.total) {
    if (own.length > 0) drop(oldest(own))
    else {
      let largest: Array<ProbationEntry> = []
      for (const bucket of bucketsOf(current).values()) if (bucket.length > largest.length) largest = bucket
      drop(oldest(largest))
    }
  }
  return { probation: HashMap.set(current, entry.info.info.peerId, entry), dropped }
}

/** Drops every entry introduced by `introducer` (it was banned: what it told us is worthless). */
export const dropIntroducedBy = (probation: Probation, introducer: PeerId): Probation =>
  HashMap.filter(probation, (entry) => entry.introducedBy !== introducer)

/** Drops entries whose NodeInfo is `maxInfoAgeMs` old or older. */
export const cullProbation = (probation: Probation, nowMs: number, maxInfoAgeMs: number): Probation =>
  HashMap.filter(probation, (entry) => nowMs - entry.info.info.timestampMs < maxInfoAgeMs)

/**
 * Up to `count` entries to dial, chosen at random: not being dialled, with an address, introduced by
 * a peer `usable` accepts (not banned), not in `exclude`.
 */
export const chooseProbationDials = (
  probation: Probation,
  count: number,
  rng: Rng,
  usable: (introducer: PeerId) => boolean,
  exclude: ReadonlySet<PeerId> = new Set()
): Array<ProbationEntry> => {
  if (count <= 0) return []
  const candidates = Array.from(HashMap.values(probation))
    .filter((e) => e.diallingSinceMs === undefined && e.info.info.addresses.length > 0 && !exclude.has(e.info.info.peerId) && usable(e.introducedBy))
    .sort(byAge)
  const chosen: Array<ProbationEntry> = []
  while (chosen.length < count && candidates.length > 0) {
    chosen.push(candidates.splice(Math.floor(rng() * candidates.length), 1)[0] as ProbationEntry)
  }
  return chosen
}
