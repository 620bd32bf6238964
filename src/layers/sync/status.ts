/** What state sync reports about itself (`StateSync.status`): watermarks, the certified tip, the target and each peer as the plan sees it. */
import { Clock, Effect, Ref } from "effect"
import type { StoreError } from "../../services/Store.js"
import type { SyncStatus } from "../../services/StateSync.js"
import type { SyncRuntime } from "./builder.js"
import { isBanned, targetHeight } from "./plan/peers.js"

export const syncStatus = (rt: SyncRuntime): Effect.Effect<SyncStatus, StoreError> =>
  Effect.gen(function* () {
    const w = yield* rt.store.watermarks
    const plan = yield* Ref.get(rt.plan)
    const now = yield* Clock.currentTimeMillis
    const peers = [...plan.peers.entries()]
    return {
      highestSyncedCommit: w.highestSyncedCommit,
      highestCertifiedCommit: (yield* rt.certifiedTip.get).index,
      targetCommit: Math.max(w.highestSyncedCommit, targetHeight(plan, now)),
      lowestAvailableCommit: w.lowestAvailableCommit,
      epoch: w.nextEpoch,
      peersWithClaims: peers.filter(([, p]) => p.highest >= 0 && !isBanned(p, now)).length,
      bannedPeers: peers.filter(([, p]) => isBanned(p, now)).length,
      peers: peers.map(([peerId, p]) => ({ peerId, claimedHeight: p.highest, banned: isBanned(p, now), inflight: p.inflight, failures: p.failures }))
    }
  })
