/**
 * Sets the gauges from the services' own status: StateSync, PeerManager, Network and CommitExecutor.
 * Every source is optional (`Effect.serviceOption`): a node without discovery, or a test with only a
 * network, still gets the gauges it can have, and a gauge without a source stays at 0.
 */
import { Effect, Metric, Option } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import { CommitExecutor, type CommitExecutorService } from "../../services/CommitExecutor.js"
import { Network, type NetworkService } from "../../services/Network.js"
import { PeerManager, type PeerManagerService, type PeerSnapshot } from "../../services/PeerManager.js"
import { StateSync, type StateSyncService, type SyncStatus } from "../../services/StateSync.js"
import { bannedPeers, certifiedHeight, claimedHeight, connectedPeers, executorHighestExecuted, knownPeers, syncedHeight } from "./definitions.js"

/** The services the gauges are read from, when the node has them. */
export interface GaugeSources {
  readonly stateSync: Option.Option<StateSyncService>
  readonly peerManager: Option.Option<PeerManagerService>
  readonly network: Option.Option<NetworkService>
  readonly executor: Option.Option<CommitExecutorService>
}

/** The sources present in the current context. */
export const gaugeSources: Effect.Effect<GaugeSources> = Effect.all({
  stateSync: Effect.serviceOption(StateSync),
  peerManager: Effect.serviceOption(PeerManager),
  network: Effect.serviceOption(Network),
  executor: Effect.serviceOption(CommitExecutor)
})

/** Peers banned by sync or by the peer manager, each counted once. */
const bannedCount = (status: Option.Option<SyncStatus>, snapshot: Option.Option<PeerSnapshot>): number => {
  const banned = new Set<PeerId>()
  for (const peer of Option.match(status, { onNone: () => [], onSome: (s) => s.peers })) if (peer.banned) banned.add(peer.peerId)
  for (const peer of Option.match(snapshot, { onNone: () => [], onSome: (s) => s.known })) if (peer.banned) banned.add(peer.peerId)
  return banned.size
}

/** Reads every source once and sets the gauges. Never fails: a store error leaves the gauges it would have set as they were. */
export const refreshGauges = (sources: GaugeSources): Effect.Effect<void> =>
  Effect.gen(function* () {
    const status = yield* Option.match(sources.stateSync, {
      onNone: () => Effect.succeed(Option.none<SyncStatus>()),
      onSome: (sync) =>
        sync.status.pipe(
          Effect.map(Option.some),
          Effect.catchAll((error) => Effect.as(Effect.logDebug(`metrics: sync status unavailable: ${error.message}`), Option.none<SyncStatus>()))
        )
    })
    const snapshot = yield* Option.match(sources.peerManager, {
      onNone: () => Effect.succeed(Option.none<PeerSnapshot>()),
      onSome: (manager) => Effect.map(manager.snapshot, Option.some)
    })
    if (Option.isSome(status)) {
      yield* Metric.set(syncedHeight, status.value.highestSyncedCommit)
      yield* Metric.set(claimedHeight, status.value.targetCommit)
      yield* Metric.set(certifiedHeight, status.value.highestCertifiedCommit)
    }
    if (Option.isSome(snapshot)) {
      yield* Metric.set(knownPeers, snapshot.value.known.length)
      yield* Metric.set(connectedPeers, snapshot.value.connected.length)
    } else if (Option.isSome(sources.network)) {
      // Without a peer manager the network still knows its connections.
      yield* Metric.set(connectedPeers, (yield* sources.network.value.connectedPeers).length)
    }
    if (Option.isSome(status) || Option.isSome(snapshot)) yield* Metric.set(bannedPeers, bannedCount(status, snapshot))
    if (Option.isSome(sources.executor)) {
      yield* sources.executor.value.highestExecuted.pipe(
        Effect.flatMap((index) => Metric.set(executorHighestExecuted, index)),
        Effect.catchAll((error) => Effect.logDebug(`metrics: executor watermark unavailable: ${error.message}`))
      )
    }
  })
