/**
 * The decision of a discovery round that is discovery's own, as a pure function: which connected peers
 * to ask for their known peers. The round's other decisions — which connections to drop above target,
 * which peers to dial — are the peer ledger's named operations (`planTrim`, `planDials`, rules in
 * `layers/peers/`), since they rank peers by everything the ledger knows.
 */
import type { PeerId } from "../../../domain/PeerId.js"
import { sample, seededRng } from "../../peers/prng.js"

/**
 * `count` connected peers to ask, never a banned one, drawn at random (by `seed`): all but one of them
 * from `credible` (connected peers whose introductions proved real, `layers/peers/credibility.ts`) while
 * there are enough, the rest from the others. Only a credible responder's word promotes what waits on
 * probation, and at 400 nodes a node heard ≈ 1.5 credible answers a tick out of ≈ 10 (half its
 * connections were credible, and three of eight were asked at random) while each such answer promoted
 * ≈ 40 peers — learning was paced by them. One draw stays open to every connection, so a peer not yet
 * credible is still heard (its answer is what feelers test) and a credible liar is never all we hear.
 */
export const queryTargets = (
  connected: ReadonlyArray<PeerId>,
  banned: ReadonlySet<PeerId>,
  count: number,
  seed: number,
  credible: ReadonlySet<PeerId> = new Set()
): Array<PeerId> => {
  const rng = seededRng(seed)
  const usable = connected.filter((peerId) => !banned.has(peerId))
  const preferred = sample(
    usable.filter((peerId) => credible.has(peerId)),
    Math.max(0, count - 1),
    rng
  )
  const chosen = new Set(preferred)
  return [...preferred, ...sample(usable.filter((peerId) => !chosen.has(peerId)), count - preferred.length, rng)]
}
