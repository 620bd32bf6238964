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
 * Up to `count` feelers, by introducer, among those not banned: first the credible ones not yet proven,
 * then half of the others those with the most untested introductions (ties at random), half those with
 * the fewest, each contributing its quota (`feelerQuota`) of its untested introductions, at random. At
 * random, because a feeler's verdict judges the introducer: a sample biased toward what many voices
 * repeat (`confirmations.ts` dials those, and credits no one) would credit colluding liars, who all
 * repeat their real fellow attackers.
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
  const chosen: Array<FeelerChoice> = []
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
