/**
 * The `StateSync` service: brings this node up to the network's latest certified commit and hands
 * every commit to the executor, in order, with no gap and no duplicate (DESIGN.md §6). It also takes
 * commits produced by local consensus on a validator (`sendCommit`).
 */
import { Context, Data, type Effect, type Stream } from "effect"
import type { VerifiedBlock } from "../domain/block.js"
import type { CommittedSubDag } from "../domain/commit.js"
import type { PeerId } from "../domain/PeerId.js"
import type { StoreError, StoreInconsistency } from "./Store.js"

/** What sync believes about one peer. */
export interface SyncPeerStatus {
  readonly peerId: PeerId
  /** Its claimed highest commit (−1: no usable claim). */
  readonly claimedHeight: number
  readonly banned: boolean
  /** Requests to it in flight. */
  readonly inflight: number
  /** Consecutive failed requests. */
  readonly failures: number
}

/** What sync is doing, for operators and other modules. */
export interface SyncStatus {
  /** Everything up to here is verified, stored and will be delivered. */
  readonly highestSyncedCommit: number
  /**
   * The highest stored commit whose quorum votes are stored too: what this node can prove, advertise
   * and serve (DESIGN.md §6.1). A validator's trails its synced one by about a commit.
   */
  readonly highestCertifiedCommit: number
  /** The highest commit a usable peer claims (a hint until synced). */
  readonly targetCommit: number
  readonly lowestAvailableCommit: number
  /** Epoch of the next commit to sync. */
  readonly epoch: number
  /** Peers with a usable height claim. */
  readonly peersWithClaims: number
  /** Peers banned for serving invalid data. */
  readonly bannedPeers: number
  readonly peers: ReadonlyArray<SyncPeerStatus>
}

/** A commit the stream must deliver is no longer stored (pruned, or below a trusted checkpoint). */
export class CommitUnavailable extends Data.TaggedError("CommitUnavailable")<{
  readonly index: number
  readonly lowestAvailableCommit: number
}> {
  override get message(): string {
    return `commit ${this.index} is not available (lowest available: ${this.lowestAvailableCommit})`
  }
}

export interface StateSyncService {
  /** The current sync status. */
  readonly status: Effect.Effect<SyncStatus, StoreError>
  /**
   * Every commit from `fromIndex` on, in order, once each: read from the store while the consumer is
   * behind, then followed live. A slow or restarted consumer loses nothing; the stream never ends
   * on its own.
   */
  readonly commits: (fromIndex: number) => Stream.Stream<CommittedSubDag, StoreError | CommitUnavailable>
  /**
   * The validator path: a commit produced by local consensus. It must link to the stored previous
   * commit; it is persisted (with `certifierBlocks`, verified blocks voting for earlier commits, if any),
   * published, and pushed to peers that are behind.
   */
  readonly sendCommit: (subDag: CommittedSubDag, certifierBlocks?: ReadonlyArray<VerifiedBlock>) => Effect.Effect<void, StoreError | StoreInconsistency>
  /**
   * The validator path, later: blocks from local consensus that are not committed yet (a later round's
   * blocks), stored with their commit votes. When their votes reach quorum for a stored commit, that
   * commit becomes certified and is announced to peers behind.
   */
  readonly recordVotes: (blocks: ReadonlyArray<VerifiedBlock>) => Effect.Effect<void, StoreError>
}

/** Tag of the `StateSync` service. */
export class StateSync extends Context.Tag("soma-p2p/StateSync")<StateSync, StateSyncService>() {}
