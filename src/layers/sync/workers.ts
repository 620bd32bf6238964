/**
 * The sync workers: each fetch command of the plan runs in its own fiber (so a slow peer never blocks the
 * loop), calls the peer, verifies what comes back and reports one outcome event — never an error. Also
 * the height workers: every peer is asked for its heights on connect and every poll interval, and a
 * disconnect is reported; and the ledger follower, which hands the peer ledger's bans to the loop.
 */
import { Effect, Option, Queue, Schedule, Stream, type Scope } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import type { SyncRuntime } from "./builder.js"
import { fetchAvailability, fetchBlocks, fetchCommits, verifyCommitsResponse, type SyncClientDeps } from "./client.js"
import { HEIGHT_POLL_CONCURRENCY, HEIGHT_POLL_INTERVAL_MS } from "./constants.js"
import type { BlocksOutcome, CommitsOutcome, SyncCommand } from "./plan/types.js"

/** A fetch command, as a fiber's work: it reports its outcome to the loop and never fails. */
export const runFetch = (rt: SyncRuntime, command: Exclude<SyncCommand, { _tag: "Deliver" }>): Effect.Effect<void> => {
  const deps: SyncClientDeps = { network: rt.network, verifier: rt.verifier, committees: rt.committees }
  switch (command._tag) {
    case "FetchCommits":
    case "VerifyHeld": {
      const work =
        command._tag === "FetchCommits"
          ? fetchCommits(deps, command.peer, command.start, command.end, command.minEpoch, command.previousDigest)
          : verifyCommitsResponse(
              deps,
              command.peer,
              { start: command.start, end: command.end, minEpoch: command.held.epoch, previousDigest: command.previousDigest },
              command.held.commits,
              command.held.certifierRefs
            )
      return work.pipe(
        Effect.catchAllCause((cause) => Effect.succeed<CommitsOutcome>({ _tag: "Failed", detail: `local failure: ${cause.toString()}` })),
        Effect.flatMap((outcome) => Queue.offer(rt.events, { _tag: "Commits", rangeId: command.rangeId, peer: command.peer, outcome })),
        Effect.asVoid
      )
    }
    case "FetchBlocks":
      return fetchBlocks(deps, command.peer, command.epoch, command.refs).pipe(
        Effect.catchAllCause((cause) => Effect.succeed<BlocksOutcome>({ blocks: [], failed: `local failure: ${cause.toString()}` })),
        Effect.flatMap((outcome) => Queue.offer(rt.events, { _tag: "Blocks", rangeId: command.rangeId, chunkId: command.chunkId, peer: command.peer, outcome })),
        Effect.asVoid
      )
  }
}

/** Asks peers for their heights on connect and every poll interval; reports disconnects. Runs until the scope closes. */
export const startHeightWorkers = (rt: SyncRuntime): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const askHeights = (peer: PeerId) =>
      Effect.flatMap(fetchAvailability(rt.network, peer), (claim) =>
        Option.match(claim, {
          onNone: () => Effect.void,
          onSome: ({ highest, lowest }) => Effect.asVoid(Queue.offer(rt.events, { _tag: "Heights", peer, highest, lowest }))
        })
      )
    const pollHeights = Effect.flatMap(rt.network.connectedPeers, (peers) =>
      Effect.forEach(peers, askHeights, { concurrency: HEIGHT_POLL_CONCURRENCY, discard: true })
    )
    yield* pollHeights.pipe(Effect.repeat(Schedule.spaced(rt.config.heightPollIntervalMs ?? HEIGHT_POLL_INTERVAL_MS)), Effect.forkScoped)

    const bans = yield* rt.peers.changes
    yield* bans.pipe(
      Stream.runForEach((change) =>
        change._tag === "PeerBanned" ? Effect.asVoid(Queue.offer(rt.events, { _tag: "PeerBanned", peer: change.peerId, untilMs: change.untilMs })) : Effect.void
      ),
      Effect.forkScoped
    )

    const peerEvents = yield* rt.network.peerEvents
    yield* peerEvents.pipe(
      Stream.runForEach((event) =>
        event._tag === "PeerConnected"
          ? Effect.asVoid(Effect.forkIn(askHeights(event.peerId), rt.scope))
          : Effect.asVoid(Queue.offer(rt.events, { _tag: "PeerGone", peer: event.peerId }))
      ),
      Effect.forkScoped
    )
  })
