/**
 * The answer of `GET /status`: what a node is doing, for an operator or a script — who it is, its
 * heights (stored, certified, executed, the network's target), whether it is syncing, how many peers it
 * has, how long it has run and which build it is. A pure function of the services' snapshots
 * (`StatusSources`); `StatusAnswer` is its Schema (JSON Schema in `docs/status.schema.json`).
 *
 * A field is `null` when the node has no service to read it from (a process built without discovery,
 * or without an executor), never a made-up 0.
 */
import { Schema } from "effect"
import { NodeRole } from "../../domain/nodeInfo.js"
import { PeerId } from "../../domain/PeerId.js"
import type { PeerSnapshot } from "../../services/PeerManager.js"
import type { SyncStatus } from "../../services/StateSync.js"

const Height = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))
const Count = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))
const nullable = <S extends Schema.Schema.Any>(schema: S, description: string) => Schema.NullOr(schema).annotations({ description })

/** Commit indices this node has reached (commit 1 is the first; 0 means none yet). */
export const StatusHeights = Schema.Struct({
  stored: nullable(Height, "Highest commit verified and stored, with every commit below it (highestSyncedCommit)"),
  certified: nullable(Height, "Highest stored commit whose quorum votes are stored too: what this node advertises and serves"),
  executed: nullable(Height, "Highest commit the executor has executed (its watermark)"),
  networkTarget: nullable(Height, "Highest commit a usable peer claims, never below stored: what sync is heading for"),
  lowestAvailable: nullable(Height, "Lowest commit this node still stores (a trusted checkpoint or pruning raises it)")
}).annotations({ identifier: "StatusHeights", description: "Commit indices; null when the node has no such service" })
export type StatusHeights = typeof StatusHeights.Type

/**
 * Where sync stands: `Syncing` while the network's target is above what is stored; `Synced` when it is
 * not and at least one peer has a usable height claim to compare with; `NoPeerClaims` when no peer has
 * one (a node alone, or one whose peers have not answered yet: it cannot know whether it is behind).
 */
export const SyncState = Schema.Literal("Syncing", "Synced", "NoPeerClaims")
export type SyncState = typeof SyncState.Type

export const StatusSync = Schema.Struct({
  state: SyncState,
  behind: Count.annotations({ description: "networkTarget − stored" }),
  peersWithClaims: Count.annotations({ description: "Peers with a usable height claim (not banned)" })
}).annotations({ identifier: "StatusSync" })
export type StatusSync = typeof StatusSync.Type

export const StatusPeers = Schema.Struct({
  connected: Count.annotations({ description: "Peers this node holds an outbound connection to" }),
  known: nullable(Count, "Peers in the peer ledger (bounded by its maxKnownPeers)"),
  banned: nullable(Count, "Peers banned now, by the peer ledger or by state sync, each counted once")
}).annotations({ identifier: "StatusPeers" })
export type StatusPeers = typeof StatusPeers.Type

/** The answer of `GET /status`. */
export const StatusAnswer = Schema.Struct({
  peerId: nullable(PeerId, "This node's PeerId (hex Ed25519 network public key)"),
  role: nullable(NodeRole, "Validator or FullNode, as the node advertises itself to discovery"),
  version: Schema.String.annotations({ description: "soma-p2p version (package.json)" }),
  uptimeSeconds: Schema.Number.pipe(Schema.greaterThanOrEqualTo(0)).annotations({ description: "Seconds since the status endpoint started with the node" }),
  atMs: Schema.Int.annotations({ description: "When the answer was made (Unix ms)" }),
  epoch: nullable(Count, "Epoch of the next commit to sync"),
  heights: StatusHeights,
  sync: nullable(StatusSync, "Sync's progress; null without state sync"),
  peers: StatusPeers
}).annotations({ identifier: "StatusAnswer", title: "soma-p2p GET /status", description: "What a soma-p2p node is doing now" })
export type StatusAnswer = typeof StatusAnswer.Type

/** What the status is made from: each service's snapshot, when the node has the service. */
export interface StatusSources {
  readonly nowMs: number
  readonly startedAtMs: number
  readonly version: string
  readonly peerId: PeerId | undefined
  readonly role: NodeRole | undefined
  readonly sync: SyncStatus | undefined
  readonly peers: PeerSnapshot | undefined
  /** The network's own list of connections (used when there is no peer ledger). */
  readonly networkConnected: ReadonlyArray<PeerId> | undefined
  readonly highestExecuted: number | undefined
}

/** Peers banned by sync or by the ledger, each once; `undefined` without either. */
export const bannedPeerIds = (sync: SyncStatus | undefined, peers: PeerSnapshot | undefined): ReadonlySet<PeerId> | undefined => {
  if (sync === undefined && peers === undefined) return undefined
  const banned = new Set<PeerId>()
  for (const peer of sync?.peers ?? []) if (peer.banned) banned.add(peer.peerId)
  for (const peer of peers?.known ?? []) if (peer.banned) banned.add(peer.peerId)
  return banned
}

/** Sync's state from its status (see `SyncState`). */
export const syncState = (sync: SyncStatus): SyncState =>
  sync.targetCommit > sync.highestSyncedCommit ? "Syncing" : sync.peersWithClaims > 0 ? "Synced" : "NoPeerClaims"

/** The `/status` answer of these snapshots. */
export const statusView = (s: StatusSources): StatusAnswer => {
  const sync = s.sync
  const banned = bannedPeerIds(sync, s.peers)
  return {
    peerId: s.peerId ?? null,
    role: s.role ?? null,
    version: s.version,
    uptimeSeconds: Math.max(0, Math.round((s.nowMs - s.startedAtMs) / 100) / 10),
    atMs: s.nowMs,
    epoch: sync?.epoch ?? null,
    heights: {
      stored: sync?.highestSyncedCommit ?? null,
      certified: sync === undefined ? null : Math.max(0, sync.highestCertifiedCommit),
      executed: s.highestExecuted ?? null,
      networkTarget: sync === undefined ? null : Math.max(sync.targetCommit, sync.highestSyncedCommit),
      lowestAvailable: sync?.lowestAvailableCommit ?? null
    },
    sync:
      sync === undefined
        ? null
        : { state: syncState(sync), behind: Math.max(0, sync.targetCommit - sync.highestSyncedCommit), peersWithClaims: sync.peersWithClaims },
    peers: {
      connected: s.peers?.connected.length ?? s.networkConnected?.length ?? 0,
      known: s.peers?.known.length ?? null,
      banned: banned?.size ?? null
    }
  }
}
