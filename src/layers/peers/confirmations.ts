/**
 * Confirmation dials: each round, a few probation entries that the most voices we believe reported,
 * dialled with no query. The dial is the whole test: a peer reached is real and moves to the table
 * (`dialSucceeded`); one that fails is forgotten and charges its introducer (`dialFailed`). Late in
 * discovery, what a node still misses are honest peers every other node knows, waiting on its probation
 * with several voices behind them, none yet credible (at tick 10 of a 1,000-node run, half of the missing
 * honest entries, ≈ 30 a node and hundreds at the nodes that knew least); a feeler's query and answer are
 * not needed to learn that a peer exists.
 *
 * A reached confirmation credits no one (`ProbationEntry.confirming`): what many voices repeat is not a
 * fair sample of one introducer's word — colluding liars all report their fellow attackers, which are
 * real — and crediting it made liars credible, whose word then promoted their minted identities (at 400
 * nodes, 15–49 in one table against none). Introducers are judged by feelers, drawn at random from their
 * introductions (`feelers.ts`).
 */
import { HashMap } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import { isDiscredited } from "./credibility.js"
import type { Rng } from "./prng.js"
import { isBannedAt } from "./reputation.js"
import { recordOf, type PeerTable } from "./table.js"

/** One confirmation dial: whom and where (always a probation entry). */
export interface ConfirmationChoice {
  readonly peerId: PeerId
  readonly address: string
}

/**
 * Whether `peerId`'s word about a peer still counts: known to us, neither banned nor discredited (liars
 * repeat each other's minted identities, but a liar whose introductions were tested is discredited and
 * no longer counts). Used to rank probation entries (`chooseConfirmationDials`) and to decide whether
 * anything on probation is worth learning dials (`learning.ts`).
 */
export const isBelievedVoice = (table: PeerTable, peerId: PeerId, nowMs: number): boolean => {
  const record = recordOf(table, peerId)
  return record !== undefined && !isBannedAt(record, nowMs) && !isDiscredited(record.introductions)
}

/**
 * Up to `count` probation entries reported by the most other introducers (`ProbationEntry.reportedBy`),
 * counting only believed voices (`isBelievedVoice`) and at least one, ties at random; never one being
 * dialled, one in `exclude`, or one whose introducer is banned.
 */
export const chooseConfirmationDials = (
  table: PeerTable,
  nowMs: number,
  count: number,
  rng: Rng,
  exclude: ReadonlySet<PeerId>
): Array<ConfirmationChoice> => {
  if (count <= 0) return []
  const believed = (reporter: PeerId) => isBelievedVoice(table, reporter, nowMs)
  const usable = (introducer: PeerId) => {
    const record = recordOf(table, introducer)
    return record === undefined || !isBannedAt(record, nowMs)
  }
  const ranked: Array<{ readonly choice: ConfirmationChoice; readonly reporters: number; readonly tie: number }> = []
  for (const entry of HashMap.values(table.probation)) {
    const address = entry.info.info.addresses[0]
    if (entry.reportedBy.length === 0 || entry.diallingSinceMs !== undefined || address === undefined) continue
    if (exclude.has(entry.info.info.peerId) || !usable(entry.introducedBy)) continue
    const reporters = entry.reportedBy.filter(believed).length
    if (reporters > 0) ranked.push({ choice: { peerId: entry.info.info.peerId, address }, reporters, tie: 0 })
  }
  return ranked
    .sort((a, b) => (a.choice.peerId < b.choice.peerId ? -1 : 1)) // reproducible draws
    .map((r) => ({ ...r, tie: rng() }))
    .sort((a, b) => b.reporters - a.reporters || a.tie - b.tie)
    .slice(0, count)
    .map((r) => r.choice)
}
