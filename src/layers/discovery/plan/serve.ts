/**
 * What a GetKnownPeers answer carries, as pure functions: what to ask the ledger for (the most recently
 * signed NodeInfos that will not expire on their way, never the caller's own), and the random sample of
 * them that goes out. `server.ts` runs them for each request.
 */
import type { SignedNodeInfo } from "../../../domain/nodeInfo.js"
import type { InboundContext } from "../../../services/Network.js"
import type { ServableRequest } from "../../../services/PeerManager.js"
import { sample, type Rng } from "../../peers/prng.js"
import { SERVE_AGE_MARGIN_MS, SERVE_FRESHNESS_WINDOW } from "../constants.js"

/** What to ask the ledger for: the `max × SERVE_FRESHNESS_WINDOW` most recently signed servable NodeInfos. */
export const servableRequest = (caller: InboundContext["peerId"], max: number): ServableRequest => ({
  exclude: caller,
  minRemainingMs: SERVE_AGE_MARGIN_MS,
  limit: max * SERVE_FRESHNESS_WINDOW
})

/**
 * The NodeInfos to answer with, from the ledger's answer to `servableRequest`: all of them if there are
 * at most `max`, otherwise `max` drawn at random.
 */
export const knownPeersToServe = (freshest: ReadonlyArray<SignedNodeInfo>, max: number, rng: Rng): Array<SignedNodeInfo> =>
  freshest.length <= max ? [...freshest] : sample(freshest, max, rng)
