/**
 * The peer ledger's table and the pure transitions of its knowledge: configured peers, merging verified
 * NodeInfos (newest per peer wins), culling expired ones, the cap on records with eviction, offences and
 * bans with their per-peer counts, and call outcomes. Each returns a `Transition`: the new table, what
 * changed, and an answer. The `PeerManager` layer applies them atomically; tests call them directly.
 */
import { HashMap, Option } from "effect"
import type { SignedNodeInfo } from "../../domain/nodeInfo.js"
import type { PeerId } from "../../domain/PeerId.js"
import {
  PeerChange,
  type MergeOutcome,
  type IntroductionStats,
  type Offence,
  type PeerOffenceCount,
  type PeerPolicy,
  type PeerRecord
} from "../../services/PeerManager.js"
import { isCredible, isProven } from "./credibility.js"
import { EVICTION_SLACK, MAX_UNPROVEN_PER_INTRODUCER, PROVEN_STREAK, UNPROVEN_PER_STREAK } from "./policy.js"
import { addToProbation, byAge, cullProbation, dropIntroducedBy, withReporter, type Probation, type ProbationEntry } from "./probation.js"
import { evictionOrder, isConnectedOrDialling, sortedRecords } from "./ranking.js"
import { applyOffence, decayedScore, isBannedAt, newRecord, recordFailure, recordSuccess } from "./reputation.js"

/** The whole state of the peer ledger: an immutable value. */
export interface PeerTable {
  readonly self: PeerId
  readonly policy: PeerPolicy
  readonly peers: HashMap.HashMap<PeerId, PeerRecord>
  /** Introduced peers not yet confirmed (`probation.ts`): not records, never served, not counted as known. */
  readonly probation: Probation
}

/** A pure transition's result: the new table, the changes it made, and its answer. */
export interface Transition<A> {
  readonly table: PeerTable
  readonly changes: ReadonlyArray<PeerChange>
  readonly value: A
}

/** A transition that changes nothing. */
export const unchanged = <A>(table: PeerTable, value: A): Transition<A> => ({ table, changes: [], value })

/** An empty table of node `self`. */
export const emptyTable = (self: PeerId, policy: PeerPolicy): PeerTable => ({ self, policy, peers: HashMap.empty(), probation: HashMap.empty() })

/** A peer from configuration: a seed must have an address; an allowlisted peer may. */
export interface ConfiguredPeer {
  readonly peerId: PeerId
  readonly address?: string | undefined
}

/** The record of `peerId` (undefined if unknown). */
export const recordOf = (table: PeerTable, peerId: PeerId): PeerRecord | undefined => Option.getOrUndefined(HashMap.get(table.peers, peerId))

/** Replaces (or adds) one record. */
export const putRecord = (table: PeerTable, record: PeerRecord): PeerTable => ({ ...table, peers: HashMap.set(table.peers, record.peerId, record) })

/**
 * Updates `peerId`'s record, creating it first if unknown (first seen at `nowMs`; 0 for configured
 * peers, which count as known forever). Never creates a record for ourselves.
 */
export const updateRecord = (table: PeerTable, peerId: PeerId, f: (record: PeerRecord) => PeerRecord, nowMs = 0): PeerTable =>
  peerId === table.self ? table : putRecord(table, f(recordOf(table, peerId) ?? newRecord(peerId, nowMs)))

/** Marks seeds and allowlisted peers (with their configured addresses). */
export const withConfiguredPeers = (
  table: PeerTable,
  seeds: ReadonlyArray<ConfiguredPeer>,
  allowlisted: ReadonlyArray<ConfiguredPeer>
): PeerTable => {
  const seeded = seeds.reduce(
    (t, s) => updateRecord(t, s.peerId, (r) => ({ ...r, seed: true, configuredAddress: s.address ?? r.configuredAddress })),
    table
  )
  return allowlisted.reduce(
    (t, a) => updateRecord(t, a.peerId, (r) => ({ ...r, allowlisted: true, configuredAddress: a.address ?? r.configuredAddress })),
    seeded
  )
}

// ---------------------------------------------------------------------------------------------------
// NodeInfos

/** Whether `signed` is newer than the NodeInfo held for its peer (nothing else can replace it). */
export const isNewerThanHeld = (table: PeerTable, signed: SignedNodeInfo): boolean => {
  const held = recordOf(table, signed.info.peerId)?.info
  return held === undefined || held.info.timestampMs < signed.info.timestampMs
}

/**
 * Moves `peerId` from probation to the table (no-op if it is not on probation), with the newer of its
 * probation NodeInfo and `info`, its first introducer and first sight; a record the table already holds
 * (a connection event, an offence) keeps its state. An entry being dialled becomes a record being dialled.
 */
export const promoteFromProbation = (table: PeerTable, peerId: PeerId, info?: SignedNodeInfo): Transition<boolean> => {
  const held = Option.getOrUndefined(HashMap.get(table.probation, peerId))
  if (held === undefined) return unchanged(table, false)
  const newest = info !== undefined && info.info.timestampMs > held.info.info.timestampMs ? info : held.info
  const existing = recordOf(table, peerId)
  const base = existing ?? {
    ...newRecord(peerId, held.firstSeenMs, held.introducedBy),
    ...(held.diallingSinceMs === undefined
      ? {}
      : { connection: { _tag: "Dialling" as const, sinceMs: held.diallingSinceMs, disconnectedSinceMs: undefined } })
  }
  const olderInfo = base.info !== undefined && base.info.info.timestampMs >= newest.info.timestampMs
  const record: PeerRecord = { ...base, introducedBy: base.introducedBy ?? held.introducedBy, info: olderInfo ? base.info : newest }
  const next = { ...putRecord(table, record), probation: HashMap.remove(table.probation, peerId) }
  return { table: next, changes: existing?.info === undefined ? [PeerChange.PeerDiscovered({ peerId, info: newest })] : [], value: true }
}

/**
 * Whether `introducer`'s word promotes a peer from probation when a second introducer confirms it: only
 * a credible one's (its tested introductions proved real, `credibility.ts`). Two colluding liars handing
 * out the same fresh identities would otherwise promote them (keys are free, and so is a second liar).
 * An overlap test (≥ 30 % of its last answer already known to us) used to vouch too, but a liar passes
 * it by repeating peers we know — its fellow attackers, or the fakes another liar already put on our
 * probation (they counted as known) — and their minted identities reached honest tables and, corroborated,
 * were served on (10 in one table at 400 nodes, 52 with a quarter of the nodes attackers).
 */
export const vouches = (table: PeerTable, introducer: PeerId): boolean => isCredible(recordOf(table, introducer)?.introductions)

/**
 * Whether `introducer` reporting a peer another introducer told us about corroborates it: only one that
 * vouches does (`vouches`: credible). Liars share their minted
 * identities, so a second report from anyone would let two of them corroborate each other's fakes.
 */
const corroborates = vouches

/**
 * Whether `record` is an introduction never put to the test: introduced by someone, never dialled or
 * called (so its first dial still judges the introducer), not in use, not configured, not banned.
 */
export const isUntriedIntroduction = (record: PeerRecord, nowMs: number): boolean =>
  record.introducedBy !== undefined && record.successes + record.failures === 0 && !isAnchored(record, nowMs)

/**
 * Forgets every introduction of `introducer` never put to the test, on probation or in the table (it
 * was banned, or lost its credibility: what it told us is worthless until shown otherwise). Peers it
 * introduced that we reached, or that another introducer reported too, stay.
 */
export const dropUntriedIntroductions = (table: PeerTable, introducer: PeerId, nowMs: number): Transition<ReadonlyArray<PeerId>> => {
  const dropped: Array<PeerId> = []
  let peers = table.peers
  for (const record of HashMap.values(table.peers)) {
    if (record.introducedBy === introducer && !record.corroborated && isUntriedIntroduction(record, nowMs)) {
      peers = HashMap.remove(peers, record.peerId)
      dropped.push(record.peerId)
    }
  }
  dropped.sort()
  return {
    table: { ...table, peers, probation: dropIntroducedBy(table.probation, introducer) },
    changes: dropped.map((peerId) => PeerChange.PeerForgotten({ peerId, reason: "Discredited" })),
    value: dropped
  }
}

/**
 * How many more new peers credible `introducer` may put straight into the table: `UNPROVEN_PER_STREAK`
 * per introduction proven in a row from `PROVEN_STREAK − 1` on (none before it is proven), at most
 * `MAX_UNPROVEN_PER_INTRODUCER`, less those of its introductions still unproven (never tried, not
 * corroborated by another introducer).
 */
const unprovenAllowance = (table: PeerTable, introducer: PeerId, stats: IntroductionStats | undefined, nowMs: number): number => {
  let unproven = 0
  for (const record of HashMap.values(table.peers)) {
    if (record.introducedBy === introducer && !record.corroborated && isUntriedIntroduction(record, nowMs)) unproven += 1
  }
  const earned = UNPROVEN_PER_STREAK * Math.max(0, (stats?.streak ?? 0) - (PROVEN_STREAK - 1))
  return Math.min(MAX_UNPROVEN_PER_INTRODUCER, earned) - unproven
}

/**
 * Moves what proven `introducer` told us that waits on probation into the table, as far as its allowance
 * goes (`unprovenAllowance`): first its own introductions, then the entries it reported after another
 * introducer (`ProbationEntry.reportedBy`), oldest first. What it told us before it was proven, or beyond
 * its allowance then, is worth as much as what it tells us now (a credible voice's report promotes a peer
 * at once, `mergeNodeInfos`), and would otherwise wait for a feeler or for the next answer that happens to
 * carry it. A reported entry becomes its introduction, as a credible second voice's does: untried, it
 * counts against its allowance, and goes when it is discredited. Called each time one of its
 * introductions is reached (its streak, and so its allowance, grew). Measured at tick 8 of a 1,000-node
 * run: 26,325 of the 181,572 missing honest entries waited on probation from a proven honest introducer
 * that nobody else had reported, and at tick 10 half of those missing waited with two or more voices
 * (not yet judged) behind them.
 */
export const promoteProvenIntroductions = (table: PeerTable, introducer: PeerId, nowMs: number): Transition<number> => {
  const stats = recordOf(table, introducer)?.introductions
  if (!isProven(stats)) return unchanged(table, 0)
  const allowance = unprovenAllowance(table, introducer, stats, nowMs)
  if (allowance <= 0) return unchanged(table, 0)
  const own: Array<ProbationEntry> = []
  const reported: Array<ProbationEntry> = []
  for (const entry of HashMap.values(table.probation)) {
    if (entry.introducedBy === introducer) own.push(entry)
    else if (entry.reportedBy.includes(introducer)) reported.push(entry)
  }
  const waiting = [...own.sort(byAge), ...reported.sort(byAge)].slice(0, allowance)
  let current = table
  const changes: Array<PeerChange> = []
  for (const entry of waiting) {
    const peerId = entry.info.info.peerId
    const promoted = promoteFromProbation(current, peerId)
    current = entry.introducedBy === introducer ? promoted.table : updateRecord(promoted.table, peerId, (r) => ({ ...r, introducedBy: introducer }))
    changes.push(...promoted.changes)
  }
  return { table: current, changes, value: waiting.length }
}

/**
 * Merges NodeInfos that passed `precheckNodeInfo` and signature verification: a newer timestamp
 * replaces an older one, nothing else does (the timestamp orders one signer's NodeInfos, never one
 * peer against another: see `ranking.ts`). A peer we have no record of, introduced by `introducer`,
 * goes on probation (`probation.ts`) — or, already there from another introducer, is promoted to the
 * table with the newest NodeInfo when either voice is credible (`credibility.ts`); a peer's own NodeInfo
 * (no introducer) and, within its allowance, the introductions of a proven introducer (`PROVEN_STREAK`)
 * are stored at once. Then enforces the cap on records.
 */
export const mergeNodeInfos = (
  table: PeerTable,
  infos: ReadonlyArray<SignedNodeInfo>,
  nowMs: number,
  introducer?: PeerId
): Transition<ReadonlyArray<MergeOutcome>> => {
  let current = table
  const changes: Array<PeerChange> = []
  const bounds = { perIntroducer: table.policy.maxProbationPerIntroducer, total: table.policy.maxProbation }
  // How many more of its new peers a credible introducer may put straight into the table (else: probation).
  const introducerStats = introducer === undefined ? undefined : recordOf(table, introducer)?.introductions
  let straightToTable = introducer !== undefined && isCredible(introducerStats) ? unprovenAllowance(table, introducer, introducerStats, nowMs) : 0
  const outcomes = infos.map((signed): MergeOutcome => {
    const peerId = signed.info.peerId
    if (peerId === current.self) return "Ours"
    const existing = recordOf(current, peerId)
    const introducedBy = introducer === peerId ? undefined : introducer
    const held = Option.getOrUndefined(HashMap.get(current.probation, peerId))
    if (held !== undefined && existing !== undefined) {
      // A record appeared while it waited (a connection, an offence): it is no longer on probation.
      const promoted = promoteFromProbation(current, peerId, signed)
      current = promoted.table
      changes.push(...promoted.changes)
      return existing.info === undefined ? "Inserted" : "Replaced"
    }
    if (existing === undefined) {
      const second = held !== undefined && introducedBy !== undefined && introducedBy !== held.introducedBy
      if (held !== undefined && (introducedBy === undefined || (second && (vouches(current, introducedBy) || vouches(current, held.introducedBy))))) {
        const promoted = promoteFromProbation(current, peerId, signed)
        current = promoted.table
        if (introducedBy !== undefined && corroborates(current, introducedBy)) {
          // Two credible voices corroborate it. One credible voice seconding a peer someone else introduced
          // makes it that voice's introduction: untried, it counts against that voice's allowance, is
          // served only if that voice is proven, is what the next feeler of that voice tests, and goes
          // when that voice is discredited. A liar credible by luck promoted up to a whole answer's budget
          // of other liars' identities at once, corroborated, so they outlived its discredit and were
          // served (331 in honest tables, 92 in one, at tick 6 of a 1,000-node run; measured).
          const both = corroborates(current, held.introducedBy)
          current = updateRecord(current, peerId, (r) => (both ? { ...r, corroborated: true } : { ...r, introducedBy }))
        }
        changes.push(...promoted.changes)
        return "Inserted"
      }
      if (held !== undefined) {
        // A voice that does not promote it still says how widely it is known (`confirmations.ts` uses it).
        const reported = introducedBy === undefined ? held : withReporter(held, introducedBy)
        const newer = held.info.info.timestampMs < signed.info.timestampMs
        if (reported !== held || newer) {
          current = { ...current, probation: HashMap.set(current.probation, peerId, newer ? { ...reported, info: signed } : reported) }
        }
        return newer ? "Probation" : "NotNewer"
      }
      if (introducedBy !== undefined && straightToTable <= 0) {
        const entry = { info: signed, introducedBy, firstSeenMs: nowMs, diallingSinceMs: undefined, reportedBy: [] }
        current = { ...current, probation: addToProbation(current.probation, entry, bounds).probation }
        return "Probation"
      }
    }
    if (
      existing !== undefined &&
      introducedBy !== undefined &&
      !existing.corroborated &&
      existing.introducedBy !== undefined &&
      existing.introducedBy !== introducedBy &&
      corroborates(current, introducedBy)
    ) {
      current = putRecord(current, { ...existing, corroborated: true })
    }
    if (!isNewerThanHeld(current, signed)) return "NotNewer"
    if (existing === undefined && introducedBy !== undefined) straightToTable -= 1
    current = putRecord(current, { ...(recordOf(current, peerId) ?? newRecord(peerId, nowMs, introducedBy)), info: signed })
    if (existing?.info !== undefined) return "Replaced"
    changes.push(PeerChange.PeerDiscovered({ peerId, info: signed }))
    return "Inserted"
  })
  const capped = enforceCap(current, nowMs)
  return { table: capped.table, changes: [...changes, ...capped.changes], value: outcomes }
}

/** Whether a record must be kept even without a NodeInfo (it is in use, configured or banned). */
const isAnchored = (record: PeerRecord, nowMs: number): boolean =>
  isConnectedOrDialling(record) || record.seed || record.allowlisted || isBannedAt(record, nowMs)

/**
 * Drops NodeInfos older than the age limit. A record left with nothing worth keeping (no NodeInfo,
 * not connected or dialling, not configured, not banned, score forgiven) is forgotten.
 */
export const cullStale = (table: PeerTable, nowMs: number): Transition<ReadonlyArray<PeerId>> => {
  let peers = table.peers
  const forgotten: Array<PeerId> = []
  for (const record of HashMap.values(table.peers)) {
    const expired = record.info !== undefined && nowMs - record.info.info.timestampMs >= table.policy.maxInfoAgeMs
    const info = expired ? undefined : record.info
    const idle = info === undefined && !isAnchored(record, nowMs) && Math.abs(decayedScore(record, nowMs, table.policy)) < 1
    if (idle) {
      peers = HashMap.remove(peers, record.peerId)
      forgotten.push(record.peerId)
    } else if (expired) {
      peers = HashMap.set(peers, record.peerId, { ...record, info: undefined })
    }
  }
  forgotten.sort()
  return {
    table: { ...table, peers, probation: cullProbation(table.probation, nowMs, table.policy.maxInfoAgeMs) },
    changes: forgotten.map((peerId) => PeerChange.PeerForgotten({ peerId, reason: "Stale" })),
    value: forgotten
  }
}

/**
 * Evicts records beyond `policy.maxKnownPeers` (and `EVICTION_SLACK` of it more, for headroom),
 * worst-ranked and stalest first (`evictionOrder`).
 */
export const enforceCap = (table: PeerTable, nowMs: number): Transition<ReadonlyArray<PeerId>> => {
  const excess = HashMap.size(table.peers) - table.policy.maxKnownPeers
  if (excess <= 0) return unchanged(table, [])
  const evicted = evictionOrder(table, nowMs)
    .slice(0, excess + Math.floor(table.policy.maxKnownPeers * EVICTION_SLACK))
    .map((r) => r.peerId)
  const peers = evicted.reduce((p, peerId) => HashMap.remove(p, peerId), table.peers)
  return {
    table: { ...table, peers },
    changes: evicted.map((peerId) => PeerChange.PeerForgotten({ peerId, reason: "Evicted" })),
    value: evicted
  }
}

// ---------------------------------------------------------------------------------------------------
// Reputation

/**
 * Penalises `peerId` for `offence` (creating its record if unknown); answers whether it became banned.
 * A banned peer's introductions never put to the test are dropped (what it told us is worthless).
 */
export const reportOffence = (table: PeerTable, peerId: PeerId, offence: Offence, nowMs: number): Transition<boolean> => {
  if (peerId === table.self) return unchanged(table, false)
  const { record, banned } = applyOffence(recordOf(table, peerId) ?? newRecord(peerId, nowMs), offence, nowMs, table.policy)
  const put = putRecord(table, record)
  if (!banned) return unchanged(put, false)
  const dropped = dropUntriedIntroductions(put, peerId, nowMs)
  return { table: dropped.table, changes: [PeerChange.PeerBanned({ peerId, untilMs: record.bannedUntilMs, offence }), ...dropped.changes], value: true }
}

/** A successful call to (or dial of) `peerId`, with its round-trip time if measured. */
export const recordCallSuccess = (table: PeerTable, peerId: PeerId, rttMs: number | undefined): Transition<void> =>
  unchanged(recordOf(table, peerId) === undefined ? table : updateRecord(table, peerId, (r) => recordSuccess(r, rttMs, table.policy)), undefined)

/** A failed call to `peerId`: counts against its success rate, backs off, and applies `offence` if any. */
export const recordCallFailure = (table: PeerTable, peerId: PeerId, offence: Offence | undefined, nowMs: number): Transition<boolean> => {
  const failed = updateRecord(table, peerId, (r) => recordFailure(r, nowMs, table.policy), nowMs)
  return offence === undefined ? unchanged(failed, false) : reportOffence(failed, peerId, offence, nowMs)
}

/** Every peer charged with any offence, by PeerId, with its ban and misbehaviour-penalty counts. */
export const offenceCounts = (table: PeerTable): Array<PeerOffenceCount> =>
  sortedRecords(table)
    .filter((r) => r.lastOffence !== undefined)
    .map(({ peerId, bans, penalties, lastOffence }) => ({ peerId, bans, penalties, lastOffence }))
