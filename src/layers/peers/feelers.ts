/**
 * Feeler dials (Bitcoin Core's feeler connections): each round, a few untested introductions — peers a
 * responder told us about, on probation or (from a credible responder) in the table, never dialled — are
 * dialled to judge their introducers (`judgeIntroduction`). The introducers with the most untested
 * introductions go first — a new responder, or one pouring in new peers — and one not yet judged gets
 * enough feelers at once for a verdict, so each is judged in the round after it answered: an honest one
 * becomes credible (`credibility.ts`) and its answers teach fast; a liar's minted identities fail and
 * discredit it while they are few.
 */
import { HashMap } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import type { IntroductionStats, PeerRecord } from "../../services/PeerManager.js"
import { isCredible, isDiscredited, isProven } from "./credibility.js"
import { CREDIBLE_STREAK, PROVEN_STREAK } from "./policy.js"
import type { Rng } from "./prng.js"
import { dialAddress } from "./ranking.js"
import { isBannedAt } from "./reputation.js"
import { isUntriedIntroduction, recordOf, type PeerTable } from "./table.js"

/**
 * Feelers one introducer gets in a round: while it may still become credible (its failures do not yet
 * outweigh its successes), enough for a verdict at once — the rest of its streak to `CREDIBLE_STREAK`,
 * tested together; a credible one not yet proven the rest of its streak to `PROVEN_STREAK` (what it
 * promoted is its own untried introduction, `mergeNodeInfos`: these tests find a liar credible by luck
 * out within a round, seven times in eight, and make an honest relay proven the round after it became
 * credible); a proven or discredited one a single feeler (a discredited one is only charged). One per
 * introducer per round made an honest relay credible only after three rounds of being picked: at 400
 * nodes a node then had ≈ 6 credible introducers at tick 6, and 36,328 honest entries were missing
 * (11,290 with the quota).
 */
const feelerQuota = (stats: IntroductionStats | undefined): number => {
  if (stats === undefined) return CREDIBLE_STREAK
  if (isDiscredited(stats)) return 1
  if (isCredible(stats)) return Math.max(1, PROVEN_STREAK - stats.streak)
  return Math.max(1, CREDIBLE_STREAK - stats.streak)
}

/** One feeler to dial: whom, where, and whether it waits on probation (else it is a table record). */
export interface FeelerChoice {
  readonly peerId: PeerId
  readonly address: string
  readonly onProbation: boolean
}

/**
 * One feeler in this many goes to the probation entries the most introducers reported (`widelyReported`).
 * Late in discovery, what a node still misses are honest peers every other node knows, each waiting on
 * its probation from an introducer not yet judged; with feelers spread over hundreds of introducers, a
 * node missing 14 of 359 honest peers at tick 10 of a 400-node run still missed the same 14 two ticks
 * later (measured), while its connections kept reporting them. Half, not a quarter: at tick 10 of a
 * 1,000-node run, half of the missing honest entries waited with two or more voices behind them, about
 * 30 a node against 2 such feelers a round (measured); a feeler that reaches one also credits its
 * introducer, so judging goes on.
 */
export const WIDELY_REPORTED_SHARE = 2

/**
 * Whether `peerId`'s word about a peer still counts: known to us, neither banned nor discredited (liars
 * repeat each other's minted identities, but a liar whose introductions were tested is discredited and
 * no longer counts). Used to rank probation entries (`widelyReported`) and to decide whether anything on
 * probation is worth learning dials (`learning.ts`).
 */
export const isBelievedVoice = (table: PeerTable, peerId: PeerId, nowMs: number): boolean => {
  const record = recordOf(table, peerId)
  return record !== undefined && !isBannedAt(record, nowMs) && !isDiscredited(record.introductions)
}

/**
 * Up to `count` probation entries reported by the most other introducers (`ProbationEntry.reportedBy`),
 * counting only reporters neither banned nor discredited — liars repeat each other's minted identities,
 * but a liar whose introductions were tested is discredited and no longer counts — and at least one;
 * ties at random. A dial that connects promotes the peer and credits its introducer; one that fails
 * charges the introducer, as any feeler.
 */
const widelyReported = (
  table: PeerTable,
  nowMs: number,
  count: number,
  rng: Rng,
  exclude: ReadonlySet<PeerId>,
  usable: (introducer: PeerId) => boolean
): Array<FeelerChoice> => {
  if (count <= 0) return []
  const counts = (reporter: PeerId) => isBelievedVoice(table, reporter, nowMs)
  const ranked: Array<{ readonly choice: FeelerChoice; readonly reporters: number; readonly tie: number }> = []
  for (const entry of HashMap.values(table.probation)) {
    const address = entry.info.info.addresses[0]
    if (entry.reportedBy.length === 0 || entry.diallingSinceMs !== undefined || address === undefined) continue
    if (exclude.has(entry.info.info.peerId) || !usable(entry.introducedBy)) continue
    const reporters = entry.reportedBy.filter(counts).length
    if (reporters > 0) ranked.push({ choice: { peerId: entry.info.info.peerId, address, onProbation: true }, reporters, tie: 0 })
  }
  return ranked
    .sort((a, b) => (a.choice.peerId < b.choice.peerId ? -1 : 1))
    .map((r) => ({ ...r, tie: rng() }))
    .sort((a, b) => b.reporters - a.reporters || a.tie - b.tie)
    .slice(0, count)
    .map((r) => r.choice)
}

/**
 * Up to `count` feelers: half to the probation entries most widely reported (`widelyReported`);
 * the rest by introducer, among those not banned: first the credible ones not yet proven, then half of
 * the others those with the most untested introductions (ties at random), half those with the fewest,
 * each contributing its quota (`feelerQuota`) of its untested introductions, at random.
 */
export const chooseFeelers = (table: PeerTable, nowMs: number, count: number, rng: Rng, exclude: ReadonlySet<PeerId>): Array<FeelerChoice> => {
  if (count <= 0) return []
  const byIntroducer = new Map<PeerId, Array<FeelerChoice>>()
  const add = (introducer: PeerId, choice: FeelerChoice) => {
    if (exclude.has(choice.peerId)) return
    const list = byIntroducer.get(introducer)
    if (list === undefined) byIntroducer.set(introducer, [choice])
    else list.push(choice)
  }
  for (const entry of HashMap.values(table.probation)) {
    const address = entry.info.info.addresses[0]
    if (entry.diallingSinceMs === undefined && address !== undefined) add(entry.introducedBy, { peerId: entry.info.info.peerId, address, onProbation: true })
  }
  for (const record of HashMap.values(table.peers)) {
    const address = dialAddress(record)
    if (record.introducedBy !== undefined && address !== undefined && isUntriedIntroduction(record, nowMs)) {
      add(record.introducedBy, { peerId: record.peerId, address, onProbation: false })
    }
  }
  const usable = (introducer: PeerId) => {
    const record: PeerRecord | undefined = recordOf(table, introducer)
    return record === undefined || !isBannedAt(record, nowMs)
  }
  const introducers = [...byIntroducer.keys()]
    .filter(usable)
    .sort()
    .map((introducer) => ({ introducer, untested: (byIntroducer.get(introducer) as Array<FeelerChoice>).length, tie: rng() }))
    .sort((a, b) => b.untested - a.untested || a.tie - b.tie)
  // Half the feelers (rounded up) go to the introducers with the most untested introductions, the rest to
  // those with the fewest: a flood is judged within a round or two, and so is the honest relay that told
  // us of one or two peers nobody else did — late in discovery those are what a node still misses, and
  // with every feeler spent on the liars' big buckets they waited for ever (measured at 400 nodes: all
  // the honest entries still missing at tick 11 sat on probation from honest introducers not yet credible).
  const chosen: Array<FeelerChoice> = widelyReported(table, nowMs, Math.floor(count / WIDELY_REPORTED_SHARE), rng, exclude, usable)
  const swept = new Set(chosen.map((c) => c.peerId))
  for (const [introducer, list] of byIntroducer) {
    const rest = list.filter((c) => !swept.has(c.peerId))
    if (rest.length === 0) byIntroducer.delete(introducer)
    else byIntroducer.set(introducer, rest)
  }
  // Credible introducers not yet proven are tested first: their word promotes peers from probation now,
  // and a liar credible by luck is caught while it is (at 1,000 nodes ≈ 20 liars stayed credible to some
  // honest node from tick 4 to 12, untested, while the feelers went to the liars' full probation buckets;
  // up to 100 minted identities in one table).
  const onTrial = (introducer: PeerId) => {
    const stats = recordOf(table, introducer)?.introductions
    return isCredible(stats) && !isProven(stats)
  }
  const others = introducers.filter((i) => !onTrial(i.introducer))
  const order = [
    ...introducers.filter((i) => onTrial(i.introducer)),
    ...others.slice(0, Math.ceil(count / 2)),
    ...others.slice(Math.ceil(count / 2)).reverse()
  ].filter((i) => byIntroducer.has(i.introducer))
  for (const { introducer } of order) {
    if (chosen.length >= count) break
    const candidates = (byIntroducer.get(introducer) as Array<FeelerChoice>).sort((a, b) => (a.peerId < b.peerId ? -1 : 1))
    const quota = Math.min(feelerQuota(recordOf(table, introducer)?.introductions), count - chosen.length, candidates.length)
    for (let k = 0; k < quota; k++) chosen.push(candidates.splice(Math.floor(rng() * candidates.length), 1)[0] as FeelerChoice)
  }
  return chosen
}
