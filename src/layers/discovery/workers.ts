/**
 * The discovery workers: the work that talks to the network and reports what happened to the peer
 * ledger (which owns the peer state; see `loop.ts`). A GetKnownPeers query calls one peer with a
 * deadline, validates its answer (`validate.ts`), stores what is new and charges the peer for what was
 * bad (`plan/offences.ts`); a dial connects to one peer from the ledger's dial plan and, once connected,
 * queries it at once. Also the followers: the network's peer events recorded in the ledger, and the
 * ledger's bans turned into hang-ups. `supervised` is how each of them, and the round, fails without
 * ending: logged, and the next one runs.
 */
import { Cause, Clock, Duration, Effect, Either, Stream, type Scope } from "effect"
import { encodeSignedNodeInfo } from "../../domain/nodeInfo.js"
import { shortPeerId, type PeerId } from "../../domain/PeerId.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import type * as pb from "../../proto/soma/p2p/v1/p2p.pb.js"
import { PeerEvent } from "../../services/Network.js"
import { CallResult, DialResult, PeerChange, type DialOrder } from "../../services/PeerManager.js"
import type { DiscoveryRuntime } from "./builder.js"
import { chargesOfAnswer, offenceOfCallError } from "./plan/offences.js"
import { answerReadingOrder } from "./plan/readingOrder.js"
import { validateAnswer } from "./validate.js"

/** Logs a failure (or defect) of `what` and carries on; only interruption passes through. */
export const supervised =
  (what: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
    effect.pipe(
      Effect.asVoid,
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logError(`discovery: ${what} failed; continuing`, cause)
      )
    )

/** The query and dial workers. */
export interface DiscoveryWorkers {
  /** Asks one connected peer for its known peers; returns once the answer is stored or the call failed. */
  readonly query: (peer: PeerId) => Effect.Effect<void>
  /**
   * Dials one peer of the ledger's dial plan; once connected, queries it (news spreads a round sooner).
   * A feeler or a learning dial is hung up after its query unless the node is short of its target.
   */
  readonly dial: (order: DialOrder) => Effect.Effect<void>
  /**
   * Validates and stores a peer's answer — at most `maxEntriesPerResponse` entries, and of the peers
   * new to us only those within its introduction budget — and charges the peer for every kind of bad
   * entry in it (and for an answer longer than any honest server sends).
   */
  readonly processResponse: (peer: PeerId, response: pb.GetKnownPeersResponse, rttMs: number) => Effect.Effect<void>
}

/**
 * Builds the workers; `trim` is the loop's decision to drop the worst connections above target, which
 * a dial that rotated a new peer in runs once connected (never dropping that peer).
 */
export const makeWorkers = (rt: DiscoveryRuntime, trim: (keep: ReadonlySet<PeerId>) => Effect.Effect<void>): DiscoveryWorkers => {
  const { network, manager, tuning } = rt

  const processResponse = (peer: PeerId, response: pb.GetKnownPeersResponse, rttMs: number) =>
    Effect.gen(function* () {
      const relayed = answerReadingOrder(response.knownPeers, tuning.maxEntriesPerResponse, yield* rt.random.nextInt)
      const nowMs = yield* Clock.currentTimeMillis
      const context = { nowMs, self: manager.localPeerId, policy: manager.policy }
      const verdict = yield* validateAnswer(rt.crypto, manager, peer, response.ownInfo, relayed, context)
      if (verdict.own !== undefined) yield* manager.mergeNodeInfos([verdict.own])
      if (verdict.introduced.length > 0) yield* manager.mergeNodeInfos(verdict.introduced, peer)
      const tooLong = response.knownPeers.length > tuning.maxEntriesPerResponse
      const charges = [
        ...chargesOfAnswer(verdict.rejected),
        ...(tooLong ? [{ offence: "ProtocolViolation" as const, detail: `${response.knownPeers.length} peers in GetKnownPeers (at most ${tuning.maxEntriesPerResponse})` }] : [])
      ]
      for (const { offence, detail } of charges) yield* manager.reportOffence(peer, offence, detail)
      if (charges.length === 0) yield* manager.recordCallResult(peer, CallResult.Answered({ rttMs }))
    })

  const query = (peer: PeerId) =>
    Effect.gen(function* () {
      const own = yield* rt.ownInfo
      const startMs = yield* Clock.currentTimeMillis
      const result = yield* Effect.either(
        network.call(peer, P2pMethods.GetKnownPeers, { ownInfo: encodeSignedNodeInfo(own) }, { timeout: Duration.millis(tuning.queryTimeoutMs) })
      )
      if (Either.isLeft(result)) {
        yield* Effect.logDebug(`discovery: GetKnownPeers to ${shortPeerId(peer)} failed: ${result.left.message}`)
        return yield* manager.recordCallResult(peer, CallResult.Failed({ offence: offenceOfCallError(result.left) }))
      }
      const endMs = yield* Clock.currentTimeMillis
      yield* processResponse(peer, result.right, endMs - startMs)
    })

  const dial = (order: DialOrder) =>
    Effect.gen(function* () {
      const startMs = yield* Clock.currentTimeMillis
      const result = yield* Effect.either(network.dial(order.peerId, order.address))
      if (Either.isLeft(result)) {
        yield* Effect.logDebug(`discovery: dial ${shortPeerId(order.peerId)} at ${order.address} failed: ${result.left.message}`)
        return yield* manager.recordDialResult(order.peerId, DialResult.Failed())
      }
      const endMs = yield* Clock.currentTimeMillis
      yield* manager.recordDialResult(order.peerId, DialResult.Connected({ address: order.address, rttMs: endMs - startMs }))
      if (order.purpose === "Rotate") yield* trim(new Set([order.peerId]))
      // A confirmation dial's connection is its whole test (the peer is real; its introducer is not credited).
      if (order.purpose !== "Confirm") yield* query(order.peerId)
      // A feeler, a learning or a confirmation dial has done its job (its introducer is judged, its answer
      // read); kept only if we are short.
      if (order.purpose !== "Fill" && order.purpose !== "Rotate" && order.purpose !== "Seed" && (yield* network.connectedPeers).length > tuning.targetConnections) {
        yield* network.hangUp(order.peerId)
      }
    })

  return { query, dial, processResponse }
}

/**
 * Follows the network's peer events into the ledger, and the ledger's bans into hang-ups (so a banned
 * peer is cut off at once, not at the next round). Both subscribe before this returns, so no event
 * after it is missed; they run until the scope closes.
 */
export const startFollowers = (rt: DiscoveryRuntime): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { network, manager } = rt
    const peerEvents = yield* network.peerEvents
    const bans = yield* manager.changes
    yield* Effect.forkScoped(
      Stream.runForEach(
        peerEvents,
        (event) =>
          supervised("peer event")(
            PeerEvent.$match(event, {
              PeerConnected: ({ peerId, address }) => manager.recordConnected(peerId, address),
              PeerDisconnected: ({ peerId }) => manager.recordDisconnected(peerId)
            })
          )
      )
    )
    yield* Effect.forkScoped(
      Stream.runForEach(Stream.filter(bans, PeerChange.$is("PeerBanned")), ({ peerId }) => supervised("cut off")(network.cutOff(peerId)))
    )
  })
