/**
 * Feeler dials (Bitcoin Core's feeler connections): each round, a few untested introductions — peers a
 * responder told us about, on probation or (from a credible responder) in the table, never dialled — are
 * dialled to judge their introducers (`judgeIntroduction`). The introducers with the most untested
 * introductions go first — a new responder, or one pouring in new peers — so each is judged within a
 * round or two of answering: an honest
 * one becomes credible (`credibility.ts`) and its answers teach fast; a liar's minted identities fail
 * and discredit it while they are few.
 */
import { HashMap } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import type { PeerRecord } from "../../services/PeerManager.js"
import type { Rng } from "./prng.js"
import { dialAddress } from "./ranking.js"
import { isBannedAt } from "./reputation.js"
import { isUntriedIntroduction, recordOf, type PeerTable } from "./table.js"

/** One feeler to dial: whom, where, and whether it waits on probation (else it is a table record). */
export interface FeelerChoice {
  readonly peerId: PeerId
  readonly address: string
  readonly onProbation: boolean
}

/**
 * Up to `count` feelers, at most one per introducer: introducers not banned, half of them those with the
 * most untested introductions (ties at random), half those with the fewest, each contributing one of its
 * untested introductions at random.
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
  const order = [...introducers.slice(0, Math.ceil(count / 2)), ...introducers.slice(Math.ceil(count / 2)).reverse()]
  const chosen: Array<FeelerChoice> = []
  for (const { introducer } of order) {
    if (chosen.length >= count) break
    const candidates = (byIntroducer.get(introducer) as Array<FeelerChoice>).sort((a, b) => (a.peerId < b.peerId ? -1 : 1))
    chosen.push(candidates[Math.floor(rng() * candidates.length)] as FeelerChoice)
  }
  return chosen
}
