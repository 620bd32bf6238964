/**
 * Delivery (DESIGN.md §6.4): writing verified commits to the store, publishing them to the commit stream
 * and announcing the new certified tip to peers that are behind. The sync loop hands the head range to
 * `deliver`, a worker that reports back (written, refused, failed, or the store had moved) and never
 * touches the plan; the validator path (`sendCommit`, `recordVotes`) writes through the same lock, so
 * that the store sees one writer at a time and commits in order.
 */
import { Effect, Option, PubSub, Queue, Ref } from "effect"
import type { VerifiedBlock } from "../../domain/block.js"
import { committedSubDag, type CommittedSubDag } from "../../domain/commit.js"
import { blockRefKey, type CommitRef } from "../../domain/refs.js"
import type { StoreError, StoreInconsistency, Watermarks } from "../../services/Store.js"
import type { SyncRuntime } from "./builder.js"
import { pushCommit } from "./client.js"
import { DELIVERY_RETRY_MS, PUSH_CONCURRENCY } from "./constants.js"
import { recordDelivered } from "./metrics.js"
import type { SyncCommand } from "./plan/types.js"

export interface Delivery {
  /**
   * Writes commits in one transaction and publishes them. `certified`: the last commit's certifiers
   * were verified and are in `extraBlocks` (sync); otherwise (the validator path) the stored votes say
   * what is certified.
   */
  readonly persistAndPublish: (
    subDags: ReadonlyArray<CommittedSubDag>,
    extraBlocks: ReadonlyArray<VerifiedBlock>,
    certified: boolean
  ) => Effect.Effect<Watermarks, StoreError | StoreInconsistency>
  /** The delivery worker: writes the head range and reports the result to the loop. */
  readonly deliver: (command: Extract<SyncCommand, { _tag: "Deliver" }>) => Effect.Effect<void>
  /** Stores not-yet-committed blocks with their votes; announces a commit they certify. */
  readonly recordVotes: (blocks: ReadonlyArray<VerifiedBlock>) => Effect.Effect<void, StoreError>
}

export const makeDelivery = (rt: SyncRuntime): Delivery => {
  const peersBehind = (index: number) =>
    Effect.map(Ref.get(rt.plan), (plan) => [...plan.peers.entries()].filter(([, p]) => p.highest >= 0 && p.highest < index).map(([id]) => id))

  /** Tells peers behind it about our new certified tip (never about uncertified commits: they could not be served). */
  const announce = (ref: CommitRef) =>
    Effect.flatMap(peersBehind(ref.index), (peers) =>
      Effect.forEach(peers, (peer) => pushCommit(rt.network, peer, ref), { concurrency: PUSH_CONCURRENCY, discard: true })
    ).pipe(Effect.forkIn(rt.scope), Effect.asVoid)

  /** Announces the certified tip if a local write raised it. */
  const refreshTip = Effect.flatMap(rt.certifiedTip.refresh, Option.match({ onNone: () => Effect.void, onSome: announce }))

  const persistAndPublish: Delivery["persistAndPublish"] = (subDags, extraBlocks, certified) =>
    rt.deliveryLock.withPermits(1)(
      Effect.gen(function* () {
        const watermarks = yield* rt.store.writeCommits(
          subDags.map((subDag) => ({ subDag })),
          { extraBlocks }
        )
        for (const subDag of subDags) yield* PubSub.publish(rt.published, subDag)
        const last = subDags[subDags.length - 1]
        if (certified && last !== undefined) {
          yield* rt.certifiedTip.certified(last.commitRef)
          yield* announce(last.commitRef)
        } else yield* refreshTip
        return watermarks
      })
    )

  const deliver: Delivery["deliver"] = ({ range }) =>
    Effect.gen(function* () {
      const subDags = range.status.commits.map((c) =>
        committedSubDag(
          c,
          c.commit.blocks.map((ref) => range.status.blocks.get(blockRefKey(ref)) as VerifiedBlock)
        )
      )
      const written = yield* Effect.either(persistAndPublish(subDags, range.status.certifiers, true))
      if (written._tag === "Right") {
        yield* Effect.logDebug(`synced commits ${range.start}..${range.end}`)
        yield* recordDelivered(subDags)
        return yield* Queue.offer(rt.events, { _tag: "Delivered", rangeId: range.id, nextEpoch: written.right.nextEpoch })
      }
      const error = written.left
      if (error._tag === "StoreInconsistency" && (error.reason === "CommitAlreadyStored" || error.reason === "CommitGap")) {
        // The validator path moved the store; follow it.
        const w = yield* Effect.orElseSucceed(rt.store.watermarks, () => null)
        if (w !== null) return yield* Queue.offer(rt.events, { _tag: "StoreMoved", rangeId: range.id, watermarks: w })
      } else if (error._tag === "StoreInconsistency") {
        yield* Effect.logDebug(`range ${range.start}..${range.end} refused by the store: ${error.message}`)
        return yield* Queue.offer(rt.events, { _tag: "DeliveryRefused", rangeId: range.id })
      } else yield* Effect.logError(`store write failed, will retry: ${error.message}`)
      return yield* Queue.offer(rt.events, { _tag: "DeliveryFailed", rangeId: range.id, retryMs: DELIVERY_RETRY_MS })
    }).pipe(Effect.asVoid)

  const recordVotes: Delivery["recordVotes"] = (blocks) => rt.deliveryLock.withPermits(1)(Effect.zipRight(rt.store.writeBlocks(blocks), refreshTip))

  return { persistAndPublish, deliver, recordVotes }
}
