/**
 * The serving side of state sync registered on the network: GetCommitAvailability, GetCommitInfo,
 * PushCommit, FetchCommits and FetchBlocks. In a node the `Network` hands these routes to the
 * `P2pServer` (`layers/server`), which checks each request before it is decoded; the handlers still
 * validate what they use (bad input → INVALID_ARGUMENT, over a limit → RESOURCE_EXHAUSTED), answer
 * from the store with bounded work — FetchBlocks lazily, one message per pull — and turn a store
 * failure into UNAVAILABLE, never a crash.
 */
import { Effect, Either, Option, Stream, type Scope } from "effect"
import { encodeBcs } from "../../domain/codec.js"
import { BlockRefBcs, CommitRefBcs, type BlockRef, type CommitRef } from "../../domain/refs.js"
import type { PeerId } from "../../domain/PeerId.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import { HandlerStatus, type NetworkService } from "../../services/Network.js"
import type { StoreError, StoreService } from "../../services/Store.js"
import type { CertifiedTip } from "./certifiedTip.js"
import type { CommitteeCache } from "./committeeCache.js"
import { MAX_BLOCKS_PER_FETCH } from "./constants.js"
import { serveFetchBlocks, serveFetchCommits } from "./serveCommits.js"
import { decodePushedRef, decodeRequestedRef } from "./client.js"

/** Largest commit index on the wire (u32). */
const MAX_COMMIT_INDEX = 0xffff_ffff

const unavailable = (error: StoreError) => HandlerStatus.unavailable(`storage: ${error.detail}`)

/** Registers the sync handlers until the scope closes; `onPush` receives validated PushCommit hints. */
export const registerSyncServer = (
  network: NetworkService,
  store: StoreService,
  committees: CommitteeCache,
  certifiedTip: CertifiedTip,
  onPush: (peer: PeerId, ref: CommitRef) => Effect.Effect<void>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    // We advertise what we can prove: the certified tip, not the stored one (DESIGN.md §6.1).
    yield* network.handleUnary(P2pMethods.GetCommitAvailability, () =>
      Effect.zipWith(store.watermarks, certifiedTip.get, (w, tip) => ({
        highestSyncedCommit: tip.index,
        lowestAvailableCommit: Math.min(w.lowestAvailableCommit, tip.index + 1),
        epoch: w.nextEpoch
      })).pipe(Effect.mapError(unavailable))
    )

    yield* network.handleUnary(P2pMethods.GetCommitInfo, (request) =>
      Effect.gen(function* () {
        const query = request.query
        if (query === undefined) return yield* Effect.fail(HandlerStatus.invalidArgument("query must be latest or index"))
        const index = query.$case === "latest" ? (yield* certifiedTip.get).index : query.value
        const commit = index === 0 ? Option.none() : yield* store.getCommit(index)
        return Option.match(commit, {
          onNone: () => ({}),
          onSome: (c) => ({ commitRef: encodeBcs(CommitRefBcs, c.ref) })
        })
      }).pipe(Effect.catchTag("StoreError", (e) => Effect.fail(unavailable(e))))
    )

    yield* network.handleUnary(P2pMethods.PushCommit, (request, context) =>
      Either.match(decodePushedRef(request.commitRef), {
        onLeft: (e) => Effect.fail(HandlerStatus.invalidArgument(`commitRef: ${e.message}`)),
        onRight: (ref) => Effect.as(onPush(context.peerId, ref), {})
      })
    )

    yield* network.handleUnary(P2pMethods.FetchCommits, (request) => {
      if (request.start < 1 || request.end < request.start || request.end > MAX_COMMIT_INDEX)
        return Effect.fail(HandlerStatus.invalidArgument(`bad range ${request.start}..${request.end}`))
      return Effect.flatMap(certifiedTip.get, (tip) => serveFetchCommits(store, committees.get, request.start, request.end, tip.index)).pipe(
        Effect.map((answer) => ({ commits: answer.commits.map((c) => c.bytes), certifierRefs: answer.certifierRefs.map((r) => encodeBcs(BlockRefBcs, r)) })),
        Effect.mapError(unavailable)
      )
    })

    yield* network.handleServerStream(P2pMethods.FetchBlocks, (request) => {
      // The count is checked before anything is decoded or allocated for it.
      if (request.blockRefs.length > MAX_BLOCKS_PER_FETCH)
        return Stream.fail(HandlerStatus.resourceExhausted(`${request.blockRefs.length} refs, at most ${MAX_BLOCKS_PER_FETCH}`))
      const refs: Array<BlockRef> = []
      for (const bytes of request.blockRefs) {
        const decoded = decodeRequestedRef(bytes)
        if (Either.isLeft(decoded)) return Stream.fail(HandlerStatus.invalidArgument(`blockRef: ${decoded.left.message}`))
        refs.push(decoded.right)
      }
      return serveFetchBlocks(store, refs).pipe(
        Stream.map((blocks) => ({ blocks: [...blocks] })),
        Stream.mapError(unavailable)
      )
    })
  })
