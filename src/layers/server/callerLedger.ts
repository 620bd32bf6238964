/**
 * What the P2P server asks of the peer ledger: whether a caller is banned (its calls are refused
 * before anything else, at the cost of one lookup), and a report for a caller that sent what no honest
 * node sends — bytes that are not the route's request, over its receive limit or its counts. Our own
 * client never sends such a request, so a few of them ban the caller (penalty `ProtocolViolation`) and
 * a garbage flood stops costing us more than a lookup per call. Rate and in-flight refusals are never
 * reported: an honest peer can burst into them.
 */
import { Effect } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import type { PeerManagerService } from "../../services/PeerManager.js"

export interface CallerLedger {
  readonly isBanned: (peerId: PeerId) => Effect.Effect<boolean>
  readonly reportInvalidRequest: (peerId: PeerId, detail: string) => Effect.Effect<void>
}

/** No ledger (a server built without a PeerManager, e.g. in its own tests): nobody is banned. */
export const noCallerLedger: CallerLedger = {
  isBanned: () => Effect.succeed(false),
  reportInvalidRequest: () => Effect.void
}

/** The node's peer ledger as the server's. */
export const callerLedgerOf = (peers: PeerManagerService): CallerLedger => ({
  isBanned: peers.isBanned,
  reportInvalidRequest: (peerId, detail) => peers.reportOffence(peerId, "ProtocolViolation", `invalid request: ${detail}`)
})
