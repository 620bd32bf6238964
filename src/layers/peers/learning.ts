/**
 * Learning dials: each round, a few short connections to credible peers we are not connected to, asked
 * for their known peers once and dropped (as feelers are) if the node is above its target. Only a
 * credible responder's word promotes what waits on probation, and a node asks only 3 of its 8
 * connections a round, so at 1,000 nodes it read ≈ 2 credible answers a tick; each answer samples 200
 * of ≈ 1,000 peers, so a peer still missing had ≈ 0.2 chances in each, and the last tenth of the network
 * took ten more ticks to learn (measured: 96,886 honest entries missing at tick 10, 107 at tick 20).
 * Only while something that may be real waits on probation: once every peer a node heard of is
 * confirmed, more answers teach it nothing and it stops — and so it does when all that waits is the word
 * of responders found out (`isDiscredited`): under a lasting Sybil flood the liars' buckets are never
 * empty, and a node made its two extra connections every round for ever.
 */
import { HashMap } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import type { PeerRecord } from "../../services/PeerManager.js"
import { isCredible } from "./credibility.js"
import { isBelievedVoice } from "./confirmations.js"
import { sample, type Rng } from "./prng.js"
import { dialAddress, isEligibleForDial } from "./ranking.js"
import type { PeerTable } from "./table.js"

/** One learning dial: whom and where. */
export interface LearningChoice {
  readonly peerId: PeerId
  readonly address: string
}

/** Whether some probation entry has a voice we still believe (`isBelievedVoice`): its introducer or another reporter. */
const waitsOnSomeoneBelieved = (table: PeerTable, nowMs: number): boolean => {
  const believed = (peerId: PeerId) => isBelievedVoice(table, peerId, nowMs)
  for (const entry of HashMap.values(table.probation)) if (believed(entry.introducedBy) || entry.reportedBy.some(believed)) return true
  return false
}

/**
 * Up to `count` credible peers to dial and ask (`credibility.ts`), at random among those eligible for a
 * dial (not connected or dialling, not banned, not backing off, with an address) and not in `exclude`;
 * none unless something on probation has a voice we still believe (`waitsOnSomeoneBelieved`).
 */
export const chooseLearningDials = (table: PeerTable, nowMs: number, count: number, rng: Rng, exclude: ReadonlySet<PeerId>): Array<LearningChoice> => {
  if (count <= 0 || !waitsOnSomeoneBelieved(table, nowMs)) return []
  const candidates: Array<PeerRecord> = []
  for (const r of HashMap.values(table.peers)) {
    if (!exclude.has(r.peerId) && isEligibleForDial(r, nowMs) && isCredible(r.introductions)) candidates.push(r)
  }
  candidates.sort((a, b) => (a.peerId < b.peerId ? -1 : 1)) // reproducible draws
  return sample(candidates, count, rng).flatMap((r) => {
    const address = dialAddress(r)
    return address === undefined ? [] : [{ peerId: r.peerId, address }]
  })
}
