/**
 * `SyncLayer`: the state-sync event loop (DESIGN.md §6). One fiber owns the `SyncPlan`; every fetch
 * runs in its own worker fiber and reports back as an event, so a slow peer never blocks the loop.
 * Deliveries happen in commit order under one lock shared with the validator path (`sendCommit`):
 * write commit + blocks atomically, advance the watermark, publish on the PubSub, push to peers behind.
 * Closing the layer's scope interrupts the loop and every worker.
 */
import { Clock, Effect, Layer, Metric, Option, PubSub, Queue, Ref, Schedule, Stream, type Scope } from "effect"
import type { VerifiedBlock } from "../../domain/block.js"
import { committedSubDag, type CommittedSubDag } from "../../domain/commit.js"
import type { PeerId } from "../../domain/PeerId.js"
import { blockRefKey, type CommitRef } from "../../domain/refs.js"
import { Network, type NetworkService } from "../../services/Network.js"
import { PeerManager } from "../../services/PeerManager.js"
import { StateSync, type StateSyncService } from "../../services/StateSync.js"
import { Store, type StoreService, type TrustedCheckpoint, type Watermarks } from "../../services/Store.js"
import { Verifier, type CommitteeInvalid } from "../../services/Verifier.js"
import { blocksSyncedTotal, commitsSyncedTotal, recordInvalidData } from "../metrics/definitions.js"
import { makeCertifiedTip } from "./certifiedTip.js"
import { makeCommitteeCache } from "./committeeCache.js"
import { commitStream } from "./commitStream.js"
import { HEIGHT_POLL_INTERVAL_MS, SUBDAG_PUBSUB_CAPACITY } from "./constants.js"
import { fetchAvailability, fetchBlocks, fetchCommits, pushCommit, verifyCommitsResponse, type SyncClientDeps } from "./syncClient.js"
import {
  defaultSyncPlanConfig,
  initialPlan,
  isBanned,
  onBlocksOutcome,
  onCommitsOutcome,
  onDelivered,
  onDeliveryRefused,
  onPeerGone,
  onPeerHeights,
  onPeerPushed,
  onWatermarkAdvanced,
  schedule,
  takeOffences,
  targetHeight,
  type BlocksOutcome,
  type CommitsOutcome,
  type SyncCommand,
  type SyncOffence,
  type SyncPlan,
  type SyncPlanConfig
} from "./syncPlan.js"
import { registerSyncServer } from "./syncServer.js"

/** Loop mailbox: worker results and hints. Bounded; workers wait when full (results are never dropped). */
const EVENT_QUEUE_CAPACITY = 4_096
/** PushCommit hints waiting for the loop; when full, new hints are dropped (the height poll recovers them). */
const HINT_QUEUE_CAPACITY = 1_024
/** How often the loop wakes without events, so that backoffs expire and failed deliveries are retried. */
const TICK_MS = 1_000
/** Peers asked for their heights at once. */
const HEIGHT_POLL_CONCURRENCY = 8
/** Peers told about a new commit at once. */
const PUSH_CONCURRENCY = 8

/** Configuration of state sync. */
export interface SyncConfig extends Partial<SyncPlanConfig> {
  /** Where an empty store starts: genesis (index 0, zero digest, epoch-0 committee) or an operator's checkpoint. */
  readonly start: TrustedCheckpoint
  readonly heightPollIntervalMs?: number
}

type SyncEvent =
  | { readonly _tag: "Heights"; readonly peer: PeerId; readonly highest: number; readonly lowest: number }
  | { readonly _tag: "Pushed"; readonly peer: PeerId; readonly index: number }
  | { readonly _tag: "PeerGone"; readonly peer: PeerId }
  | { readonly _tag: "Commits"; readonly rangeId: number; readonly peer: PeerId; readonly outcome: CommitsOutcome }
  | { readonly _tag: "Blocks"; readonly rangeId: number; readonly chunkId: number; readonly peer: PeerId; readonly outcome: BlocksOutcome }
  | { readonly _tag: "WatermarkAdvanced"; readonly watermarks: Watermarks }
  | { readonly _tag: "Tick" }

const applyEvent = (plan: SyncPlan, event: SyncEvent, now: number): SyncPlan => {
  switch (event._tag) {
    case "Heights":
      return onPeerHeights(plan, event.peer, event.highest, event.lowest, now)
    case "Pushed":
      return onPeerPushed(plan, event.peer, event.index, now)
    case "PeerGone":
      return onPeerGone(plan, event.peer)
    case "Commits":
      return onCommitsOutcome(plan, event.rangeId, event.peer, event.outcome, now)
    case "Blocks":
      return onBlocksOutcome(plan, event.rangeId, event.chunkId, event.peer, event.outcome, now)
    case "WatermarkAdvanced":
      return onWatermarkAdvanced(plan, event.watermarks.highestSyncedCommit, event.watermarks.nextEpoch)
    case "Tick":
      return plan
  }
}

const make = (config: SyncConfig): Effect.Effect<StateSyncService, CommitteeInvalid, Network | Store | Verifier | Scope.Scope> =>
  Effect.gen(function* () {
    const network = yield* Network
    const store = yield* Store
    const verifier = yield* Verifier
    const committees = makeCommitteeCache(store)
    const deps: SyncClientDeps = { network, verifier, committees }
    // When discovery runs alongside, a peer that serves invalid data is reported to it too, so that the
    // node stops dialling it (sync keeps its own bans regardless).
    const peerManager = yield* Effect.serviceOption(PeerManager)
    const reportInvalid = (peer: PeerId, detail: string) =>
      Option.match(peerManager, {
        onNone: () => Effect.void,
        onSome: (manager) => manager.reportOffence(peer, "InvalidData", detail)
      })
    const planConfig: SyncPlanConfig = {
      window: config.window ?? defaultSyncPlanConfig.window,
      blockChunksInFlight: config.blockChunksInFlight ?? defaultSyncPlanConfig.blockChunksInFlight,
      maxRequestsPerPeer: config.maxRequestsPerPeer ?? defaultSyncPlanConfig.maxRequestsPerPeer,
      maxBlocksHeld: config.maxBlocksHeld ?? defaultSyncPlanConfig.maxBlocksHeld
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
    const planRef = yield* Ref.make(initialPlan(started.highestSyncedCommit, started.nextEpoch, lastDigest))
    // What we advertise and serve up to: the highest commit whose quorum votes we store.
    const certifiedTip = yield* makeCertifiedTip(store, committees, config.start.commitRef)
    yield* Effect.orDie(certifiedTip.refresh)
    const published = yield* Effect.acquireRelease(PubSub.sliding<CommittedSubDag>(SUBDAG_PUBSUB_CAPACITY), PubSub.shutdown)
    const events = yield* Effect.acquireRelease(Queue.bounded<SyncEvent>(EVENT_QUEUE_CAPACITY), Queue.shutdown)
    const hints = yield* Effect.acquireRelease(Queue.dropping<SyncEvent>(HINT_QUEUE_CAPACITY), Queue.shutdown)
    const deliveryLock = yield* Effect.makeSemaphore(1)
    const scope = yield* Effect.scope

    const peersBehind = (index: number) =>
      Effect.map(Ref.get(planRef), (plan) => [...plan.peers.entries()].filter(([, p]) => p.highest >= 0 && p.highest < index).map(([id]) => id))

    /** Tells peers behind it about our new certified tip (never about uncertified commits: they could not be served). */
    const announce = (ref: CommitRef) =>
      Effect.flatMap(peersBehind(ref.index), (peers) =>
        Effect.forEach(peers, (peer) => pushCommit(network, peer, ref), { concurrency: PUSH_CONCURRENCY, discard: true })
      ).pipe(Effect.forkIn(scope), Effect.asVoid)

    /** Announces the certified tip if a local write raised it. */
    const refreshTip = Effect.flatMap(certifiedTip.refresh, Option.match({ onNone: () => Effect.void, onSome: announce }))

    /**
     * Writes commits in one transaction and publishes them, under the delivery lock. `certified`: the
     * last commit's certifiers were verified and are in `extraBlocks` (sync); otherwise (the validator
     * path) the stored votes say what is certified.
     */
    const persistAndPublish = (subDags: ReadonlyArray<CommittedSubDag>, extraBlocks: ReadonlyArray<VerifiedBlock>, certified: boolean) =>
      deliveryLock.withPermits(1)(
        Effect.gen(function* () {
          const watermarks = yield* store.writeCommits(
            subDags.map((subDag) => ({ subDag })),
            { extraBlocks }
          )
          for (const subDag of subDags) yield* PubSub.publish(published, subDag)
          const last = subDags[subDags.length - 1]
          if (certified && last !== undefined) {
            yield* certifiedTip.certified(last.commitRef)
            yield* announce(last.commitRef)
          } else yield* refreshTip
          return watermarks
        })
      )

    /** Reports what transitions found: metrics, a warning, and the peer ledger (which decides bans). */
    const reportOffences = (offences: ReadonlyArray<SyncOffence>) =>
      Effect.forEach(
        offences,
        ({ detail, peer, reason }) =>
          Effect.all([
            recordInvalidData(reason),
            Effect.logWarning(`peer ${peer.slice(0, 8)} banned by sync (${reason}): ${detail}`),
            reportInvalid(peer, `${reason}: ${detail}`)
          ]),
        { discard: true }
      )

    // ---- workers --------------------------------------------------------------------------------
    const runWorker = (command: Exclude<SyncCommand, { _tag: "Deliver" }>): Effect.Effect<void> => {
      const report = (event: SyncEvent) => Queue.offer(events, event)
      switch (command._tag) {
        case "FetchCommits":
        case "VerifyHeld": {
          const work =
            command._tag === "FetchCommits"
              ? fetchCommits(deps, command.peer, command.start, command.end, command.minEpoch, command.previousDigest)
              : verifyCommitsResponse(deps, command.peer, { start: command.start, end: command.end, minEpoch: command.held.epoch, previousDigest: command.previousDigest }, command.held.commits, command.held.certifierRefs)
          return work.pipe(
            Effect.catchAllCause((cause) => Effect.succeed<CommitsOutcome>({ _tag: "Failed", detail: `local failure: ${cause.toString()}` })),
            Effect.flatMap((outcome) => report({ _tag: "Commits", rangeId: command.rangeId, peer: command.peer, outcome })),
            Effect.asVoid
          )
        }
        case "FetchBlocks":
          return fetchBlocks(deps, command.peer, command.epoch, command.refs).pipe(
            Effect.catchAllCause((cause) => Effect.succeed<BlocksOutcome>({ blocks: [], failed: `local failure: ${cause.toString()}` })),
            Effect.flatMap((outcome) => report({ _tag: "Blocks", rangeId: command.rangeId, chunkId: command.chunkId, peer: command.peer, outcome })),
            Effect.asVoid
          )
      }
    }

    // ---- delivery -------------------------------------------------------------------------------
    const deliver = (plan: SyncPlan, command: Extract<SyncCommand, { _tag: "Deliver" }>, now: number) =>
      Effect.gen(function* () {
        const { range } = command
        const subDags = range.status.commits.map((c) =>
          committedSubDag(
            c,
            c.commit.blocks.map((ref) => range.status.blocks.get(blockRefKey(ref)) as VerifiedBlock)
          )
        )
        const written = yield* Effect.either(persistAndPublish(subDags, range.status.certifiers, true))
        if (written._tag === "Right") {
          const last = subDags[subDags.length - 1] as CommittedSubDag
          yield* Effect.logDebug(`synced commits ${range.start}..${range.end} (epoch ${last.epoch})`)
          yield* Metric.incrementBy(commitsSyncedTotal, subDags.length)
          yield* Metric.incrementBy(blocksSyncedTotal, subDags.reduce((n, s) => n + s.blocks.length, 0))
          return onDelivered(plan, range.id, written.right.nextEpoch)
        }
        const error = written.left
        if (error._tag === "StoreInconsistency" && (error.reason === "CommitAlreadyStored" || error.reason === "CommitGap")) {
          // The validator path moved the store; follow it.
          const w = yield* Effect.orElseSucceed(store.watermarks, () => null)
          return w === null ? plan : onWatermarkAdvanced(plan, w.highestSyncedCommit, w.nextEpoch)
        }
        if (error._tag === "StoreInconsistency") {
          yield* Effect.logDebug(`range ${range.start}..${range.end} refused by the store: ${error.message}`)
          return onDeliveryRefused(plan, range.id, now)
        }
        yield* Effect.logError(`store write failed, will retry: ${error.message}`)
        return plan
      })

    // ---- the loop -------------------------------------------------------------------------------
    const iteration = Effect.gen(function* () {
      const first = yield* Queue.take(events)
      const rest = yield* Queue.takeAll(events)
      const now = yield* Clock.currentTimeMillis
      let plan = yield* Ref.get(planRef)
      plan = applyEvent(plan, first, now)
      for (const event of rest) plan = applyEvent(plan, event, now)
      for (;;) {
        const scheduled = schedule(plan, now, planConfig)
        plan = scheduled.plan
        let delivery: Extract<SyncCommand, { _tag: "Deliver" }> | undefined
        for (const command of scheduled.commands) {
          if (command._tag === "Deliver") delivery = command
          else yield* Effect.forkIn(runWorker(command), scope)
        }
        yield* Ref.set(planRef, plan)
        if (delivery === undefined) break
        const before = plan
        plan = yield* deliver(plan, delivery, now)
        yield* Ref.set(planRef, plan)
        if (plan === before) break // nothing changed (a failed write): wait for the next event
      }
      const found = takeOffences(plan)
      yield* Ref.set(planRef, found.plan)
      yield* reportOffences(found.offences)
    })

    yield* iteration.pipe(
      Effect.catchAllCause((cause) => Effect.logError("state sync iteration failed; continuing", cause)),
      Effect.forever,
      Effect.forkScoped
    )

    // Hints reach the loop through their own dropping queue, so a flood of pushes cannot crowd out results.
    yield* Queue.take(hints).pipe(
      Effect.flatMap((event) => Queue.offer(events, event)),
      Effect.forever,
      Effect.forkScoped
    )

    yield* Queue.offer(events, { _tag: "Tick" }).pipe(Effect.repeat(Schedule.spaced(TICK_MS)), Effect.forkScoped)

    // ---- peer heights ---------------------------------------------------------------------------
    const askHeights = (peer: PeerId) =>
      Effect.flatMap(fetchAvailability(network, peer), (claim) =>
        Option.match(claim, {
          onNone: () => Effect.void,
          onSome: ({ highest, lowest }) => Effect.asVoid(Queue.offer(events, { _tag: "Heights", peer, highest, lowest }))
        })
      ).pipe(Effect.asVoid)

    const pollHeights = Effect.flatMap(network.connectedPeers, (peers) =>
      Effect.forEach(peers, askHeights, { concurrency: HEIGHT_POLL_CONCURRENCY, discard: true })
    )
    yield* pollHeights.pipe(Effect.repeat(Schedule.spaced(config.heightPollIntervalMs ?? HEIGHT_POLL_INTERVAL_MS)), Effect.forkScoped)

    const peerEvents = yield* network.peerEvents
    yield* peerEvents.pipe(
      Stream.runForEach((event) =>
        event._tag === "PeerConnected"
          ? Effect.asVoid(Effect.forkIn(askHeights(event.peerId), scope))
          : Effect.asVoid(Queue.offer(events, { _tag: "PeerGone", peer: event.peerId }))
      ),
      Effect.forkScoped
    )

    // ---- serving --------------------------------------------------------------------------------
    yield* registerSyncServer(network, store, committees, certifiedTip, (peer, ref) => Queue.offer(hints, { _tag: "Pushed", peer, index: ref.index }).pipe(Effect.asVoid))

    // ---- the service ----------------------------------------------------------------------------
    const service: StateSyncService = {
      status: Effect.gen(function* () {
        const w = yield* store.watermarks
        const plan = yield* Ref.get(planRef)
        const now = yield* Clock.currentTimeMillis
        const peers = [...plan.peers.values()]
        return {
          highestSyncedCommit: w.highestSyncedCommit,
          highestCertifiedCommit: (yield* certifiedTip.get).index,
          targetCommit: Math.max(w.highestSyncedCommit, targetHeight(plan, now)),
          lowestAvailableCommit: w.lowestAvailableCommit,
          epoch: w.nextEpoch,
          peersWithClaims: peers.filter((p) => p.highest >= 0 && !isBanned(p, now)).length,
          bannedPeers: peers.filter((p) => isBanned(p, now)).length,
          peers: [...plan.peers.entries()].map(([peerId, p]) => ({
            peerId,
            claimedHeight: p.highest,
            banned: isBanned(p, now),
            inflight: p.inflight,
            failures: p.failures
          }))
        }
      }),
      commits: (fromIndex) => commitStream(store, published, fromIndex),
      sendCommit: (subDag, certifierBlocks = []) =>
        Effect.gen(function* () {
          const watermarks = yield* persistAndPublish([subDag], certifierBlocks, false)
          yield* Queue.offer(events, { _tag: "WatermarkAdvanced", watermarks })
        }),
      recordVotes: (blocks) =>
        deliveryLock.withPermits(1)(Effect.zipRight(store.writeBlocks(blocks), refreshTip))
    }
    return service
  })

/** State sync on the provided network, store and verifier. */
export const SyncLayer = (config: SyncConfig): Layer.Layer<StateSync, CommitteeInvalid, Network | Store | Verifier> =>
  Layer.scoped(StateSync, make(config))

/** Exposed for tests that want the service without a Layer. */
export const makeStateSync = make
export type { NetworkService, StoreService }
