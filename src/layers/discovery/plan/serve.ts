/**
 * What a GetKnownPeers answer carries, as pure functions: what to ask the ledger for (its best-observed
 * servable NodeInfos, ranked by what this node saw of each peer, never by the signer's timestamp; none
 * about to expire), shared by every caller of a tick (`servedSample.ts`), and the random sample of them
 * that goes out to one caller, never carrying the caller's own NodeInfo.
 */
import type { SignedNodeInfo } from "../../../domain/nodeInfo.js"
import type { PeerId } from "../../../domain/PeerId.js"
import type { ServableRequest } from "../../../services/PeerManager.js"
import { sample, type Rng } from "../../peers/prng.js"
import { SERVE_AGE_MARGIN_MS, SERVE_FRESHNESS_WINDOW } from "../constants.js"

/**
 * What to ask the ledger for: the `max × SERVE_FRESHNESS_WINDOW` best-observed servable NodeInfos,
 * and one more, so that a caller found among them and left out still leaves a full window.
 */
export const servableRequest = (max: number): ServableRequest => ({
  exclude: undefined,
  minRemainingMs: SERVE_AGE_MARGIN_MS,
  limit: max * SERVE_FRESHNESS_WINDOW + 1
})

/**
 * The NodeInfos to answer `caller` with, from the shared candidates (`servableRequest`, best observed
 * first): every one but the caller's if there are at most `max`; otherwise half drawn at random from the
 * best `max` (what we saw work) and half from all the rest (so every peer we may serve reaches the
 * network, not only those every table ranks high), the first half topped up if the rest is short.
 */
export const knownPeersToServe = (candidates: ReadonlyArray<SignedNodeInfo>, caller: PeerId, max: number, rng: Rng): Array<SignedNodeInfo> => {
  const others = candidates.filter((signed) => signed.info.peerId !== caller)
  if (others.length <= max) return others
  const best = others.slice(0, max)
  const rest = others.slice(max)
  const fromRest = sample(rest, Math.min(rest.length, Math.floor(max / 2)), rng)
  return [...sample(best, max - fromRest.length, rng), ...fromRest]
}
