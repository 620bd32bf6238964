/**
 * What the sync loop takes from its mailbox — a peer's heights or push, a peer gone, a worker's outcome,
 * the delivery worker's report, the store moved by the validator path, a tick — and the pure transition
 * each one is. Workers never touch the plan: they report one of these and the loop applies it.
 */
import type { PeerId } from "../../../domain/PeerId.js"
import { boundPeers, onPeerBanned, onPeerGone, onPeerHeights, onPeerPushed, prunePeers } from "./peers.js"
import { onBlocksOutcome, onCommitsOutcome, onDelivered, onDeliveryFailed, onDeliveryRefused, onWatermarkAdvanced } from "./ranges.js"
import { defaultPeerTableLimits, type BlocksOutcome, type CommitsOutcome, type PeerTableLimits, type SyncPlan } from "./types.js"

/** Where the store stands after a write (what a delivery or the validator path reports). */
export interface StoreAdvance {
  readonly highestSyncedCommit: number
  readonly nextEpoch: number
}

export type SyncEvent =
  | { readonly _tag: "Heights"; readonly peer: PeerId; readonly highest: number; readonly lowest: number }
  /** A PushCommit hint, with the caller's PeerId: taken only from a peer sync knows as connected. */
  | { readonly _tag: "Pushed"; readonly peer: PeerId; readonly index: number }
  | { readonly _tag: "PeerGone"; readonly peer: PeerId }
  /** The peer ledger banned a peer until `untilMs`. */
  | { readonly _tag: "PeerBanned"; readonly peer: PeerId; readonly untilMs: number }
  | { readonly _tag: "Commits"; readonly rangeId: number; readonly peer: PeerId; readonly outcome: CommitsOutcome }
  | { readonly _tag: "Blocks"; readonly rangeId: number; readonly chunkId: number; readonly peer: PeerId; readonly outcome: BlocksOutcome }
  /** The delivery worker wrote range `rangeId`. */
  | { readonly _tag: "Delivered"; readonly rangeId: number; readonly nextEpoch: number }
  /** The store refused range `rangeId` (it does not link): its server lied. */
  | { readonly _tag: "DeliveryRefused"; readonly rangeId: number }
  /** The store write of range `rangeId` failed (I/O); retried after `retryMs`. */
  | { readonly _tag: "DeliveryFailed"; readonly rangeId: number; readonly retryMs: number }
  /** The store moved without this loop (the validator path, or a delivery found it moved). */
  | { readonly _tag: "StoreMoved"; readonly rangeId?: number; readonly watermarks: StoreAdvance }
  /** Time passes: backoffs expire, and entries of peers gone long enough are dropped. */
  | { readonly _tag: "Tick" }

/** The plan after `event` at `now`, its peer table within `limits`. */
export const applyEvent = (plan: SyncPlan, event: SyncEvent, now: number, limits: PeerTableLimits = defaultPeerTableLimits): SyncPlan =>
  boundPeers(transition(plan, event, now, limits), now, limits)

const transition = (plan: SyncPlan, event: SyncEvent, now: number, limits: PeerTableLimits): SyncPlan => {
  switch (event._tag) {
    case "Heights":
      return onPeerHeights(plan, event.peer, event.highest, event.lowest, now)
    case "Pushed":
      return onPeerPushed(plan, event.peer, event.index, now)
    case "PeerGone":
      return onPeerGone(plan, event.peer, now)
    case "PeerBanned":
      return onPeerBanned(plan, event.peer, event.untilMs)
    case "Commits":
      return onCommitsOutcome(plan, event.rangeId, event.peer, event.outcome, now)
    case "Blocks":
      return onBlocksOutcome(plan, event.rangeId, event.chunkId, event.peer, event.outcome, now)
    case "Delivered":
      return onDelivered(plan, event.rangeId, event.nextEpoch)
    case "DeliveryRefused":
      return onDeliveryRefused(plan, event.rangeId, now)
    case "DeliveryFailed":
      return onDeliveryFailed(plan, event.rangeId, now, event.retryMs)
    case "StoreMoved": {
      const moved = onWatermarkAdvanced(plan, event.watermarks.highestSyncedCommit, event.watermarks.nextEpoch)
      return event.rangeId !== undefined && moved.delivering === event.rangeId ? { ...moved, delivering: 0 } : moved
    }
    case "Tick":
      return prunePeers(plan, now, limits)
  }
}
