/**
 * The discovery event loop: one round per tick, dials in their own fibers. A round re-signs our
 * NodeInfo, reconciles the table with the network's connections and culls expired NodeInfos, hangs up
 * on banned peers, asks `peersToQuery` random connected peers for their known peers (each call with a
 * deadline), drops connections above target, and plans this round's dials. Every decision about peers
 * is a named operation of the peer ledger (`PeerManager`, rules in `layers/peers/`); this file only asks
 * for them, records what happened, and talks to the network.
 */
import { Cause, Clock, Duration, Effect, Either, FiberSet, Ref, Schedule, type Random } from "effect"
import { encodeSignedNodeInfo, type SignedNodeInfo } from "../../domain/nodeInfo.js"
import { shortPeerId, type PeerId } from "../../domain/PeerId.js"
import { P2pMethods } from "../../proto/P2pMethods.js"
import type * as pb from "../../proto/soma/p2p/v1/p2p.pb.js"
import type { CryptoService } from "../../services/Crypto.js"
import type { CallError, NetworkService } from "../../services/Network.js"
import { CallResult, DialResult, type DialOrder, type Offence, type PeerManagerService } from "../../services/PeerManager.js"
import { sample, seededRng } from "../peers/prng.js"
import type { DiscoveryTuning } from "./config.js"
import { describeRejection, offenceOf, type NodeInfoRejection } from "./nodeInfoRules.js"
import { validateNodeInfos, type ReceivedEntry } from "./validate.js"

/** What the loop needs. */
export interface LoopDeps {
  readonly network: NetworkService
  readonly manager: PeerManagerService
  readonly crypto: CryptoService
  readonly random: Random.Random
  readonly tuning: DiscoveryTuning
  /** Our current signed NodeInfo. */
  readonly ownInfo: Effect.Effect<SignedNodeInfo>
  /** Signs a fresh NodeInfo and makes it the current one. */
  readonly resign: Effect.Effect<SignedNodeInfo>
  /** Capability flags to prefer when dialling. */
  readonly wanted: Effect.Effect<number>
  /** Where dial fibers run (closed with the layer's scope). */
  readonly dials: FiberSet.FiberSet<void, never>
  readonly rounds: Ref.Ref<number>
}

/** The offence a failed call charges the peer with (`undefined`: not its fault). */
export const offenceOfCallError = (error: CallError): Offence | undefined => {
  switch (error._tag) {
    case "DeadlineExceeded":
      return "Timeout"
    case "PeerUnavailable":
    case "RpcRejected": // it refused (busy, banned us, shutting down): a fault, not misbehaviour
      return "Unavailable"
    case "ProtocolViolation":
      return "ProtocolViolation"
    case "RequestTooLarge":
      return undefined // our own request: our problem
  }
}

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

/** Builds the loop's effects. */
export const makeDiscoveryLoop = (deps: LoopDeps) => {
  const { network, manager, tuning } = deps

  /** Validates and stores a peer's answer, and charges the peer for every kind of bad entry in it. */
  const processResponse = (peer: PeerId, response: pb.GetKnownPeersResponse, rttMs: number) =>
    Effect.gen(function* () {
      const entries: Array<ReceivedEntry> = [
        { bytes: response.ownInfo, expectedPeerId: peer },
        ...response.knownPeers.slice(0, tuning.maxEntriesPerResponse).map((bytes) => ({ bytes }))
      ]
      const nowMs = yield* Clock.currentTimeMillis
      const verdict = yield* validateNodeInfos(deps.crypto, entries, { nowMs, self: manager.localPeerId, policy: manager.policy }, manager.newerThanHeld)
      yield* manager.mergeNodeInfos(verdict.accepted)
      const byOffence = new Map<Offence, Array<NodeInfoRejection>>()
      for (const rejection of verdict.rejected) {
        const offence = offenceOf(rejection)
        if (offence !== undefined) byOffence.set(offence, [...(byOffence.get(offence) ?? []), rejection])
      }
      // One penalty per kind of offence per answer: an answer is one act, however many bad entries it has.
      for (const [offence, rejections] of byOffence) {
        const first = rejections[0]
        const detail = `${rejections.length} bad NodeInfo(s) in GetKnownPeers, e.g. ${first === undefined ? "?" : describeRejection(first)}`
        yield* manager.reportOffence(peer, offence, detail)
      }
      if (byOffence.size === 0) yield* manager.recordCallResult(peer, CallResult.Answered({ rttMs }))
    })

  /** Asks one connected peer for its known peers. */
  const query = (peer: PeerId) =>
    Effect.gen(function* () {
      const own = yield* deps.ownInfo
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

  /** Hangs up the worst-ranked connections above target (never those in `keep`). */
  const trim = (keep: ReadonlySet<PeerId>) =>
    Effect.gen(function* () {
      const connected = yield* network.connectedPeers
      if (connected.length <= tuning.targetConnections) return
      const wanted = yield* deps.wanted
      const victims = yield* manager.planTrim({ connected, target: tuning.targetConnections, wanted, keep })
      yield* Effect.forEach(victims, network.hangUp, { discard: true })
    })

  /** Dials one peer; once connected, asks it for its peers at once (news spreads a round sooner). */
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
      yield* query(order.peerId)
    })

  /** Plans this round's dials and starts each in its own fiber. */
  const dialMissing = Effect.gen(function* () {
    const connectedCount = (yield* network.connectedPeers).length
    const wanted = yield* deps.wanted
    const seed = yield* deps.random.nextInt
    const orders = yield* manager.planDials({
      connectedCount,
      target: tuning.targetConnections,
      wanted,
      rotationProbability: tuning.rotationProbability,
      seed
    })
    yield* Effect.forEach(orders, (order) => FiberSet.run(deps.dials, supervised(`dial of ${shortPeerId(order.peerId)}`)(dial(order))), {
      discard: true
    })
  })

  /** One round. */
  const round = Effect.gen(function* () {
    yield* deps.resign
    const connected = yield* network.connectedPeers
    const banned = new Set(yield* manager.reconcileConnections(connected))
    yield* manager.cullStale
    yield* Effect.forEach(banned, network.hangUp, { discard: true })
    const seed = yield* deps.random.nextInt
    const targets = sample(
      connected.filter((peerId) => !banned.has(peerId)),
      tuning.peersToQuery,
      seededRng(seed)
    )
    yield* Effect.forEach(targets, query, { concurrency: "unbounded", discard: true })
    yield* trim(new Set())
    yield* dialMissing
    yield* Ref.update(deps.rounds, (n) => n + 1)
  })

  /**
   * The loop: dial seeds and allowlisted peers at once, wait a random fraction of a tick (so that nodes
   * started together do not query in lockstep), then one round per tick. A failing round is logged and
   * the schedule runs the next one; only closing the scope ends the loop.
   */
  const run = Effect.gen(function* () {
    yield* supervised("startup dials")(dialMissing)
    yield* Effect.sleep(Duration.millis(yield* deps.random.nextIntBetween(0, tuning.tickMs)))
    yield* Effect.repeat(supervised("round")(round), Schedule.fixed(Duration.millis(tuning.tickMs)))
  })

  return { run, round, query, dial, processResponse }
}
