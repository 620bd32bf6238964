/**
 * Reads the snapshots `/status` and `/peers` are made from. Like the gauges, every source is optional
 * (`Effect.serviceOption`): the endpoint is built over whatever the node has, and a view field without a
 * source is `null`. A read that fails (the store cannot be read) is a `StatusUnavailable`, answered 503.
 */
import { Clock, Data, Effect, Option } from "effect"
import type { NodeRole } from "../../domain/nodeInfo.js"
import type { PeerId } from "../../domain/PeerId.js"
import { CommitExecutor, type CommitExecutorService } from "../../services/CommitExecutor.js"
import { Discovery, type DiscoveryService } from "../../services/Discovery.js"
import { Network, type NetworkService } from "../../services/Network.js"
import { PeerManager, type PeerManagerService, type PeerSnapshot } from "../../services/PeerManager.js"
import { StateSync, type StateSyncService, type SyncStatus } from "../../services/StateSync.js"
import { peersView, type PeersAnswer } from "./peersView.js"
import { statusView, type StatusAnswer } from "./statusView.js"
import { SOMA_P2P_VERSION } from "./version.js"

/** A service the answer needs could not be read now. */
export class StatusUnavailable extends Data.TaggedError("StatusUnavailable")<{ readonly detail: string }> {
  override get message(): string {
    return `status unavailable: ${this.detail}`
  }
}

/** The services the answers are read from, when the node has them. */
export interface StatusServices {
  readonly stateSync: Option.Option<StateSyncService>
  readonly peerManager: Option.Option<PeerManagerService>
  readonly network: Option.Option<NetworkService>
  readonly executor: Option.Option<CommitExecutorService>
  readonly discovery: Option.Option<DiscoveryService>
}

/** The services present in the current context. */
export const statusServices: Effect.Effect<StatusServices> = Effect.all({
  stateSync: Effect.serviceOption(StateSync),
  peerManager: Effect.serviceOption(PeerManager),
  network: Effect.serviceOption(Network),
  executor: Effect.serviceOption(CommitExecutor),
  discovery: Effect.serviceOption(Discovery)
})

const optional = <A, E extends { readonly message: string }>(
  service: Option.Option<{ readonly read: Effect.Effect<A, E> }>,
  what: string
): Effect.Effect<A | undefined, StatusUnavailable> =>
  Option.match(service, {
    onNone: () => Effect.succeed(undefined),
    onSome: ({ read }) => Effect.mapError(read, (error) => new StatusUnavailable({ detail: `${what}: ${error.message}` }))
  })

const readSync = (s: StatusServices): Effect.Effect<SyncStatus | undefined, StatusUnavailable> =>
  optional(Option.map(s.stateSync, (sync) => ({ read: sync.status })), "sync status")

const readLedger = (s: StatusServices): Effect.Effect<PeerSnapshot | undefined> =>
  Option.match(s.peerManager, { onNone: () => Effect.succeed(undefined), onSome: (manager) => manager.snapshot })

const readConnected = (s: StatusServices): Effect.Effect<ReadonlyArray<PeerId> | undefined> =>
  Option.match(s.network, { onNone: () => Effect.succeed(undefined), onSome: (network) => network.connectedPeers })

/** The `/status` answer now. `startedAtMs`: when the endpoint started (uptime is counted from it). */
export const readStatus = (s: StatusServices, startedAtMs: number): Effect.Effect<StatusAnswer, StatusUnavailable> =>
  Effect.gen(function* () {
    // The executor first: it runs only stored commits, so read before sync every answer has executed ≤ stored.
    const highestExecuted = yield* optional(Option.map(s.executor, (executor) => ({ read: executor.highestExecuted })), "executor watermark")
    const sync = yield* readSync(s)
    const peers = yield* readLedger(s)
    const networkConnected = yield* readConnected(s)
    const role: NodeRole | undefined = Option.isSome(s.discovery) ? (yield* s.discovery.value.ownInfo).info.role : undefined
    const peerId = Option.match(s.network, {
      onSome: (network) => network.localPeerId,
      onNone: () => Option.getOrUndefined(Option.map(s.peerManager, (manager) => manager.localPeerId))
    })
    const nowMs = yield* Clock.currentTimeMillis
    return statusView({ nowMs, startedAtMs, version: SOMA_P2P_VERSION, peerId, role, sync, peers, networkConnected, highestExecuted })
  })

/** The `/peers` answer now, at most `limit` peers. */
export const readPeers = (s: StatusServices, limit: number): Effect.Effect<PeersAnswer, StatusUnavailable> =>
  Effect.gen(function* () {
    const sync = yield* readSync(s)
    const peers = yield* readLedger(s)
    const networkConnected = yield* readConnected(s)
    const nowMs = yield* Clock.currentTimeMillis
    return peersView({ nowMs, peers, sync, networkConnected }, limit)
  })
