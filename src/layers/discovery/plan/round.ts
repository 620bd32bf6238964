/**
 * The decision of a discovery round that is discovery's own, as a pure function: which connected peers
 * to ask for their known peers. The round's other decisions — which connections to drop above target,
 * which peers to dial — are the peer ledger's named operations (`planTrim`, `planDials`, rules in
 * `layers/peers/`), since they rank peers by everything the ledger knows.
 */
import type { PeerId } from "../../../domain/PeerId.js"
import { sample, seededRng } from "../../peers/prng.js"

/** `count` connected peers drawn at random (by `seed`), never a banned one. */
export const queryTargets = (connected: ReadonlyArray<PeerId>, banned: ReadonlySet<PeerId>, count: number, seed: number): Array<PeerId> =>
  sample(
    connected.filter((peerId) => !banned.has(peerId)),
    count,
    seededRng(seed)
  )
