/**
 * The `Discovery` service: the handle of the discovery event loop (DESIGN.md §5). The loop — a
 * supervised fiber of `DiscoveryLayer` — re-signs our NodeInfo every tick, asks a few connected peers
 * for the peers they know, keeps every valid NodeInfo in the `PeerManager`, and dials the best-ranked
 * peers up to the target number of connections. It also serves `GetKnownPeers`.
 */
import { Context, Data, type Effect, type Scope, type Stream } from "effect"
import type { SignedNodeInfo } from "../domain/nodeInfo.js"
import type { PeerChange, PeerSnapshot } from "./PeerManager.js"

/** The discovery configuration cannot work (e.g. our own NodeInfo would be over the limits). */
export class InvalidDiscoveryConfig extends Data.TaggedError("InvalidDiscoveryConfig")<{ readonly detail: string }> {
  override get message(): string {
    return `invalid discovery configuration: ${this.detail}`
  }
}

/** Every error of the `Discovery` service and its layer. */
export type DiscoveryError = InvalidDiscoveryConfig

export interface DiscoveryService {
  /** Our current NodeInfo, signed (re-signed with a fresh timestamp every tick). */
  readonly ownInfo: Effect.Effect<SignedNodeInfo>
  /** Known and connected peers with their metadata, now. */
  readonly snapshot: Effect.Effect<PeerSnapshot>
  /** Peer changes from now on, for as long as the scope lives (a bounded sliding subscription). */
  readonly changes: Effect.Effect<Stream.Stream<PeerChange>, never, Scope.Scope>
  /**
   * Capability flags (`Capability` in `domain/nodeInfo.ts`) to prefer when dialling: state sync asks
   * for `ServesStateSync`, and for `Archival` too when it is far behind.
   */
  readonly preferCapabilities: (capabilities: number) => Effect.Effect<void>
  /** Rounds the loop has completed (for metrics and tests). */
  readonly rounds: Effect.Effect<number>
}

/** Tag of the `Discovery` service. */
export class Discovery extends Context.Tag("soma-p2p/Discovery")<Discovery, DiscoveryService>() {}
