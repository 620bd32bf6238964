/**
 * `DiscoveryLayer`: discovery (DESIGN.md §5) as a Layer. `builder.ts` checks the configuration and makes
 * the shared state, `server.ts` answers GetKnownPeers, `workers.ts` follow the network's peer events and
 * the ledger's bans, query and dial, and `loop.ts` runs one round per tick. Closing the layer's scope
 * interrupts the loop, every dial in flight and both followers, and unregisters the handler.
 */
import { Effect, Layer, Ref, type Scope } from "effect"
import type { Crypto } from "../../services/Crypto.js"
import { Discovery, type DiscoveryService, type InvalidDiscoveryConfig } from "../../services/Discovery.js"
import type { Network } from "../../services/Network.js"
import type { PeerManager } from "../../services/PeerManager.js"
import { buildDiscovery, type DiscoveryConfig } from "./builder.js"
import { startLoop } from "./loop.js"
import { registerDiscoveryServer } from "./server.js"
import { startFollowers } from "./workers.js"

const make = (config: DiscoveryConfig): Effect.Effect<DiscoveryService, InvalidDiscoveryConfig, Network | PeerManager | Crypto | Scope.Scope> =>
  Effect.gen(function* () {
    const rt = yield* buildDiscovery(config)
    yield* registerDiscoveryServer(rt)
    // The followers subscribe before the loop starts, so no connection event is missed.
    yield* startFollowers(rt)
    yield* startLoop(rt)
    return {
      ownInfo: rt.ownInfo,
      snapshot: rt.manager.snapshot,
      changes: rt.manager.changes,
      preferCapabilities: (capabilities) => Ref.set(rt.wanted, capabilities),
      rounds: Ref.get(rt.rounds)
    }
  })

/** The `Discovery` service: needs `Network`, `PeerManager` and `Crypto`. */
export const DiscoveryLayer = (config: DiscoveryConfig): Layer.Layer<Discovery, InvalidDiscoveryConfig, Network | PeerManager | Crypto> =>
  Layer.scoped(Discovery, make(config))

/** The service without a Layer, in the current scope. */
export const makeDiscovery = make
export type { DiscoveryConfig }
