/**
 * Counters fed by the services' event streams rather than by call sites: connections and disconnects
 * by reason (the network's `peerEvents`), executed commits and their transactions by outcome (the
 * executor's notifications). Each follower lives in the caller's scope.
 */
import { Effect, Metric, Option, Stream, type Scope } from "effect"
import type { CommitExecutorService, ExecutedCommit } from "../../services/CommitExecutor.js"
import { PeerEvent, type NetworkService } from "../../services/Network.js"
import { executedCommitsTotal, peerConnectionsTotal, recordDisconnect, recordTransactions } from "./definitions.js"

/** Counts one executed commit and its transactions. */
export const recordExecuted = (commit: ExecutedCommit): Effect.Effect<void> =>
  Effect.all(
    [
      Metric.increment(executedCommitsTotal),
      recordTransactions("succeeded", Math.max(0, commit.executed - commit.failed)),
      recordTransactions("failed", commit.failed),
      recordTransactions("duplicate", commit.duplicates),
      recordTransactions("undecodable", commit.undecodable)
    ],
    { discard: true }
  )

/** Counts connections and disconnects until the scope closes. */
export const followPeerEvents = (network: NetworkService): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(network.peerEvents, (events) =>
    events.pipe(
      Stream.runForEach(
        PeerEvent.$match({
          PeerConnected: () => Metric.increment(peerConnectionsTotal),
          PeerDisconnected: ({ reason }) => recordDisconnect(reason)
        })
      ),
      Effect.forkScoped,
      Effect.asVoid
    )
  )

/**
 * Counts executed commits until the scope closes. The executor's notifications slide: a follower that
 * falls behind loses the oldest, so under extreme load these counters can undercount (the watermark
 * gauge, read from `highestExecuted`, never does).
 */
export const followExecutedCommits = (executor: CommitExecutorService): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(executor.subscribe, (commits) => Effect.asVoid(Effect.forkScoped(Stream.runForEach(commits, recordExecuted))))

/** Starts the followers of whichever services are present. */
export const followEvents = (sources: {
  readonly network: Option.Option<NetworkService>
  readonly executor: Option.Option<CommitExecutorService>
}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.all(
    [
      Option.match(sources.network, { onNone: () => Effect.void, onSome: followPeerEvents }),
      Option.match(sources.executor, { onNone: () => Effect.void, onSome: followExecutedCommits })
    ],
    { discard: true }
  )
