/**
 * `SyncLayer`: state sync (DESIGN.md §6) as a Layer. `builder.ts` makes the shared state, `loop.ts` runs
 * the plan, `workers.ts` fetch and verify, `delivery.ts` writes, publishes and announces, `server.ts`
 * answers peers. Closing the layer's scope interrupts the loop and every worker.
 */
import { Effect, Layer, Queue, type Scope } from "effect"
import { Network } from "../../services/Network.js"
import type { PeerManager } from "../../services/PeerManager.js"
import { StateSync, type StateSyncService } from "../../services/StateSync.js"
import { Store } from "../../services/Store.js"
import { Verifier, type CommitteeInvalid } from "../../services/Verifier.js"
import { buildSync, type SyncConfig } from "./builder.js"
import { commitStream } from "./commitStream.js"
import { makeDelivery } from "./delivery.js"
import { startLoop } from "./loop.js"
import { registerSyncServer } from "./server.js"
import { syncStatus } from "./status.js"
import { startHeightWorkers } from "./workers.js"

const make = (config: SyncConfig): Effect.Effect<StateSyncService, CommitteeInvalid, Network | Store | Verifier | PeerManager | Scope.Scope> =>
  Effect.gen(function* () {
    const rt = yield* buildSync(config)
    const delivery = makeDelivery(rt)
    yield* startLoop(rt, delivery)
    yield* startHeightWorkers(rt)
    yield* registerSyncServer(rt.network, rt.store, rt.committees, rt.certifiedTip, (peer, ref) =>
      Queue.offer(rt.hints, { _tag: "Pushed", peer, index: ref.index }).pipe(Effect.asVoid)
    )
    return {
      status: syncStatus(rt),
      commits: (fromIndex) => commitStream(rt.store, rt.published, fromIndex),
      sendCommit: (subDag, certifierBlocks = []) =>
        Effect.flatMap(delivery.persistAndPublish([subDag], certifierBlocks, false), (watermarks) =>
          Queue.offer(rt.events, { _tag: "StoreMoved", watermarks })
        ).pipe(Effect.asVoid),
      recordVotes: delivery.recordVotes
    }
  })

/** State sync on the provided network, store, verifier and peer ledger. */
export const SyncLayer = (config: SyncConfig): Layer.Layer<StateSync, CommitteeInvalid, Network | Store | Verifier | PeerManager> =>
  Layer.scoped(StateSync, make(config))

/** The service without a Layer (simulations build many nodes in one scope). */
export const makeStateSync = make
export type { SyncConfig }
