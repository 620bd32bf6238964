/**
 * The state of the sync plan (the pure core of state sync; see `schedule.ts`): what we believe about
 * each peer, the commit ranges in flight and their states, the commands the plan gives the loop and the
 * outcomes the loop's workers report back.
 *
 * A range moves Queued → FetchingCommits → (AwaitingCommittee → VerifyingCommits →) FetchingBlocks →
 * Ready → delivered, and back to Queued whenever its peer fails. Ranges are contiguous from
 * `nextIndex` (the next commit to deliver).
 */
import type { VerifiedBlock } from "../../../domain/block.js"
import type { VerifiedCommit } from "../../../domain/commit.js"
import type { PeerId } from "../../../domain/PeerId.js"
import type { BlockRef } from "../../../domain/refs.js"
import type { Offence } from "../../../services/PeerManager.js"
import type { InvalidDataReason } from "../../metrics/definitions.js"
import {
  DEFAULT_BLOCK_CHUNKS_IN_FLIGHT,
  DEFAULT_MAX_BLOCK_BYTES_HELD,
  DEFAULT_MAX_BLOCKS_HELD,
  DEFAULT_RANGE_WINDOW,
  GONE_PEER_RETENTION_MS,
  MAX_REQUESTS_PER_PEER,
  MAX_SYNC_PEERS
} from "../constants.js"

/**
 * What we believe about a peer, for sync. Claims are hints; what a peer has *proven* (served with a
 * certificate that verified) is a fact: serving less than that later is a lie, while an empty answer
 * above it is only "not yet" (DESIGN.md §6.1).
 */
export interface SyncPeer {
  /** Claimed highest certified commit (−1: no usable claim). */
  readonly highest: number
  /** Highest commit it served in a verified answer (0: none yet). */
  readonly proven: number
  /** Claimed lowest available commit. */
  readonly lowest: number
  /** Our requests to it that have not completed. */
  readonly inflight: number
  /** Consecutive failed requests (reset by a success). */
  readonly failures: number
  readonly backoffUntil: number
  readonly bannedUntil: number
  /**
   * Connected, as far as sync follows it: a height answer (asked on connect and by the poll) sets it,
   * a disconnect clears it. Only a connected peer's PushCommit hint is taken.
   */
  readonly connected: boolean
  /** When it disconnected (0: connected, or never seen connected); entries gone long enough are dropped. */
  readonly goneAt: number
  /** Failed commit fetches above `proven` since it last proved more or said "not yet": its claim going unserved. */
  readonly claimFailures: number
  /** How many of those were error answers (it replied, refusing), not timeouts or a lost connection. */
  readonly claimRefusals: number
  /** Its claims above `proven` are ignored until then (its last claim was refused, not served). */
  readonly claimIgnoredUntil: number
}

/** Why sync reports a peer: data only a liar or a forger sends, or a claim it refused to serve. */
export type SyncOffenceReason = InvalidDataReason | "unserved_claim"

/**
 * A peer did something an honest node does not: sync reports it to the peer ledger. Invalid data is
 * banned at once (provisionally here, for good by the ledger); an unserved claim is charged a decaying
 * penalty there, so only a peer that keeps doing it is banned.
 */
export interface SyncOffence {
  readonly peer: PeerId
  readonly offence: Extract<Offence, "InvalidData" | "ProtocolViolation">
  readonly reason: SyncOffenceReason
  readonly detail: string
}

/** Bounds of the sync peer table (from constants; tests use small ones). */
export interface PeerTableLimits {
  /** Entries kept at most; entries with a request in flight are never dropped. */
  readonly maxPeers: number
  /** A disconnected peer's entry is dropped after this long (unless its ban runs or a request is in flight). */
  readonly goneRetentionMs: number
}

/** The default bounds. */
export const defaultPeerTableLimits: PeerTableLimits = { maxPeers: MAX_SYNC_PEERS, goneRetentionMs: GONE_PEER_RETENTION_MS }

/** A response whose commits are of an epoch whose committee is not installed yet. */
export interface HeldCommits {
  readonly epoch: number
  readonly commits: ReadonlyArray<Uint8Array>
  readonly certifierRefs: ReadonlyArray<Uint8Array>
}

/** A chunk of block refs requested from a peer. */
export interface BlockChunk {
  readonly peer: PeerId
  readonly refs: ReadonlyArray<BlockRef>
}

export type RangeStatus =
  | { readonly _tag: "Queued" }
  | { readonly _tag: "FetchingCommits"; readonly peer: PeerId }
  | { readonly _tag: "AwaitingCommittee"; readonly peer: PeerId; readonly held: HeldCommits }
  | { readonly _tag: "VerifyingCommits"; readonly peer: PeerId }
  | {
      readonly _tag: "FetchingBlocks"
      /** The peer that served the commits (blamed if delivery finds the range does not link). */
      readonly servedBy: PeerId
      readonly commits: ReadonlyArray<VerifiedCommit>
      readonly certifiers: ReadonlyArray<VerifiedBlock>
      readonly have: ReadonlyMap<string, VerifiedBlock>
      /** Refs not yet requested (or to request again). */
      readonly pending: ReadonlyArray<BlockRef>
      readonly chunks: ReadonlyMap<number, BlockChunk>
    }
  | {
      readonly _tag: "Ready"
      readonly servedBy: PeerId
      readonly commits: ReadonlyArray<VerifiedCommit>
      readonly certifiers: ReadonlyArray<VerifiedBlock>
      readonly blocks: ReadonlyMap<string, VerifiedBlock>
    }

/** Commits `start..end` (inclusive). */
export interface Range {
  readonly id: number
  readonly start: number
  readonly end: number
  readonly status: RangeStatus
}

/** Limits of the plan (from config). */
export interface SyncPlanConfig {
  readonly window: number
  /** Blocks held in memory (fetched, or expected from verified commits) before no new range opens. */
  readonly maxBlocksHeld: number
  /** The same budget in encoded bytes (at the learned bytes per block); absent: blocks are only counted. */
  readonly maxBlockBytesHeld?: number
  readonly blockChunksInFlight: number
  readonly maxRequestsPerPeer: number
}

/** The default limits. */
export const defaultSyncPlanConfig: SyncPlanConfig = {
  window: DEFAULT_RANGE_WINDOW,
  maxBlocksHeld: DEFAULT_MAX_BLOCKS_HELD,
  maxBlockBytesHeld: DEFAULT_MAX_BLOCK_BYTES_HELD,
  blockChunksInFlight: DEFAULT_BLOCK_CHUNKS_IN_FLIGHT,
  maxRequestsPerPeer: MAX_REQUESTS_PER_PEER
}

export interface SyncPlan {
  /** The next commit to deliver (highestSyncedCommit + 1). */
  readonly nextIndex: number
  /** The epoch of `nextIndex`: the newest committee we have. */
  readonly nextEpoch: number
  /** Contiguous from `nextIndex`, ascending. */
  readonly ranges: ReadonlyArray<Range>
  readonly peers: ReadonlyMap<PeerId, SyncPeer>
  /** Source of range and chunk ids. */
  readonly nextId: number
  /** The most blocks per commit seen in verified commits (0: none seen yet), for the block budget. */
  readonly blocksPerCommit: number
  /** Encoded bytes per block, a moving mean over the blocks verified (0: none yet), for the byte budget. */
  readonly bytesPerBlock: number
  /** Digest of commit `nextIndex − 1` when known: the head range must link to it. */
  readonly lastDigest?: Uint8Array
  /** Offences found by transitions, oldest first, until the loop takes them (`takeOffences`). */
  readonly offences: ReadonlyArray<SyncOffence>
  /** The range being written by the delivery worker (0: none); one write at a time, in order. */
  readonly delivering: number
  /** No delivery before this time (after a failed store write). */
  readonly deliveryRetryAt: number
}

/** What the loop should do. */
export type SyncCommand =
  | {
      readonly _tag: "FetchCommits"
      readonly rangeId: number
      readonly peer: PeerId
      readonly start: number
      readonly end: number
      readonly minEpoch: number
      /** Digest of commit `start − 1` when already verified: the answer must link to it (checked before any block is fetched). */
      readonly previousDigest?: Uint8Array
    }
  | {
      readonly _tag: "VerifyHeld"
      readonly rangeId: number
      readonly peer: PeerId
      readonly start: number
      readonly end: number
      readonly held: HeldCommits
      readonly previousDigest?: Uint8Array
    }
  | { readonly _tag: "FetchBlocks"; readonly rangeId: number; readonly chunkId: number; readonly peer: PeerId; readonly epoch: number; readonly refs: ReadonlyArray<BlockRef> }
  | { readonly _tag: "Deliver"; readonly range: Range & { readonly status: Extract<RangeStatus, { _tag: "Ready" }> } }

/** How a commit fetch (or the verification of a held response) ended. */
export type CommitsOutcome =
  | { readonly _tag: "Verified"; readonly commits: ReadonlyArray<VerifiedCommit>; readonly certifiers: ReadonlyArray<VerifiedBlock> }
  | { readonly _tag: "NeedsCommittee"; readonly held: HeldCommits }
  /** The peer answered with no commit from `start`: a lie if it had proven `start`, else "not yet". */
  | { readonly _tag: "Empty"; readonly start: number }
  /**
   * Timeout, unreachable, or an error status: not proof of malice. `refused`: the peer answered with an
   * error status that an honest server does not give for data it holds (not a timeout, a lost
   * connection, or load shedding) — repeated for a claim, it counts as an unserved claim.
   */
  | { readonly _tag: "Failed"; readonly detail: string; readonly refused?: boolean }
  /** The peer served data that does not verify. */
  | { readonly _tag: "Invalid"; readonly detail: string }

/** How a block chunk fetch ended: the verified blocks it brought, and whether the peer misbehaved. */
export interface BlocksOutcome {
  readonly blocks: ReadonlyArray<VerifiedBlock>
  /** Set when the peer served a block that does not verify or was not asked for. */
  readonly invalid?: string
  /** Set when the call failed (timeout, unavailable, status) — blocks received before it still count. */
  readonly failed?: string
}

/** A fresh plan at the delivered watermark. */
export const initialPlan = (highestSyncedCommit: number, nextEpoch: number, lastDigest?: Uint8Array): SyncPlan => ({
  nextIndex: highestSyncedCommit + 1,
  nextEpoch,
  ranges: [],
  peers: new Map(),
  nextId: 1,
  blocksPerCommit: 0,
  bytesPerBlock: 0,
  offences: [],
  delivering: 0,
  deliveryRetryAt: 0,
  ...(lastDigest !== undefined ? { lastDigest } : {})
})

