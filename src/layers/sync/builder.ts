/**
 * Builds what the sync fibers share, from a `SyncConfig`: the plan's limits, the checked start (the
 * committee's proofs of possession, the initialised store, the digest the head range must link to), the
 * plan, the loop's mailboxes, the PubSub of delivered sub-DAGs, the committee cache and the certified tip.
 * Nothing runs yet: `loop.ts`, `workers.ts` and `server.ts` start the fibers over this.
 */
import { Effect, Option, PubSub, Queue, Ref, type Scope } from "effect"
import type { CommittedSubDag } from "../../domain/commit.js"
import type { PeerId } from "../../domain/PeerId.js"
import { Network, type NetworkService } from "../../services/Network.js"
import { PeerManager, type Offence, type PeerManagerService } from "../../services/PeerManager.js"
import { Store, type StoreService, type TrustedCheckpoint } from "../../services/Store.js"
import { Verifier, type CommitteeInvalid, type VerifierService } from "../../services/Verifier.js"
import { makeCertifiedTip, type CertifiedTip } from "./certifiedTip.js"
import { makeCommitteeCache, type CommitteeCache } from "./committeeCache.js"
import { DEFAULT_MAX_BLOCK_BYTES_HELD, EVENT_QUEUE_CAPACITY, HINT_QUEUE_CAPACITY, SUBDAG_PUBSUB_CAPACITY } from "./constants.js"
import type { SyncEvent } from "./plan/events.js"
import { initialPlan, defaultSyncPlanConfig, type SyncPlan, type SyncPlanConfig } from "./plan/types.js"

/** Configuration of state sync. */
export interface SyncConfig extends Partial<SyncPlanConfig> {
  /** Where an empty store starts: genesis (index 0, zero digest, epoch-0 committee) or an operator's checkpoint. */
  readonly start: TrustedCheckpoint
  readonly heightPollIntervalMs?: number
}

/** Everything the sync fibers share. */
export interface SyncRuntime {
  readonly config: SyncConfig
  readonly planConfig: SyncPlanConfig
  readonly network: NetworkService
  readonly store: StoreService
  readonly verifier: VerifierService
  readonly committees: CommitteeCache
  /** What we advertise and serve up to: the highest commit whose quorum votes we store. */
  readonly certifiedTip: CertifiedTip
  /** Owned by the loop; others only read it. */
  readonly plan: Ref.Ref<SyncPlan>
  /** Worker results and store moves. Bounded; workers wait when full (results are never dropped). */
  readonly events: Queue.Queue<SyncEvent>
  /** Peer pushes: dropped when full (the height poll recovers them), so a flood cannot crowd out results. */
  readonly hints: Queue.Queue<SyncEvent>
  readonly published: PubSub.PubSub<CommittedSubDag>
  /** One store write at a time: sync's deliveries and the validator path. */
  readonly deliveryLock: Effect.Semaphore
  /** The layer's scope: workers are forked in it, so closing the layer interrupts them all. */
  readonly scope: Scope.Scope
  /** The peer ledger: sync reports offences to it, and follows the bans it decides. */
  readonly peers: PeerManagerService
  /**
   * Tells the peer ledger about an offence: provably bad data (`InvalidData`: it bans at once — one ban
   * for sync and discovery) or a claim it refused to serve (`ProtocolViolation`: a decaying penalty).
   */
  readonly reportOffence: (peer: PeerId, offence: Offence, detail: string) => Effect.Effect<void>
}

/** The shared state of a sync layer, in the current scope. */
export const buildSync = (config: SyncConfig): Effect.Effect<SyncRuntime, CommitteeInvalid, Network | Store | Verifier | PeerManager | Scope.Scope> =>
  Effect.gen(function* () {
    const network = yield* Network
    const store = yield* Store
    const verifier = yield* Verifier
    const committees = makeCommitteeCache(store)
    const peers = yield* PeerManager
    const planConfig: SyncPlanConfig = {
      window: config.window ?? defaultSyncPlanConfig.window,
      blockChunksInFlight: config.blockChunksInFlight ?? defaultSyncPlanConfig.blockChunksInFlight,
      maxRequestsPerPeer: config.maxRequestsPerPeer ?? defaultSyncPlanConfig.maxRequestsPerPeer,
      maxBlocksHeld: config.maxBlocksHeld ?? defaultSyncPlanConfig.maxBlocksHeld,
      maxBlockBytesHeld: config.maxBlockBytesHeld ?? DEFAULT_MAX_BLOCK_BYTES_HELD
    }

    // The start committee (genesis or the operator's checkpoint) is accepted only with valid proofs of
    // possession; later committees are checked when their end-of-epoch block is verified.
    yield* verifier.verifyCommittee(config.start.committee)
    const started = yield* Effect.orDie(store.initialise(config.start))
    // The head range must link to the last stored commit (or to the start: genesis or the checkpoint).
    const lastDigest =
      started.highestSyncedCommit === config.start.commitRef.index
        ? config.start.commitRef.digest
        : Option.getOrUndefined(Option.map(yield* Effect.orDie(store.getCommit(started.highestSyncedCommit)), (c) => c.ref.digest))
    const certifiedTip = yield* makeCertifiedTip(store, committees, config.start.commitRef)
    yield* Effect.orDie(certifiedTip.refresh)

    return {
      config,
      planConfig,
      network,
      store,
      verifier,
      committees,
      certifiedTip,
      plan: yield* Ref.make(initialPlan(started.highestSyncedCommit, started.nextEpoch, lastDigest)),
      events: yield* Effect.acquireRelease(Queue.bounded<SyncEvent>(EVENT_QUEUE_CAPACITY), Queue.shutdown),
      hints: yield* Effect.acquireRelease(Queue.dropping<SyncEvent>(HINT_QUEUE_CAPACITY), Queue.shutdown),
      published: yield* Effect.acquireRelease(PubSub.sliding<CommittedSubDag>(SUBDAG_PUBSUB_CAPACITY), PubSub.shutdown),
      deliveryLock: yield* Effect.makeSemaphore(1),
      scope: yield* Effect.scope,
      peers,
      reportOffence: (peer, offence, detail) => peers.reportOffence(peer, offence, detail)
    }
  })
