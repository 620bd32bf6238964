/**
 * The discovery loop (DESIGN.md §5): one round per tick. A round re-signs our NodeInfo, reconciles the
 * ledger with the network's connections and culls expired NodeInfos, hangs up on banned peers, asks
 * `peersToQuery` random connected peers for their known peers, credible ones first (`plan/round.ts`), drops the worst
 * connections above target and dispatches the dials the ledger plans, each to its own worker fiber.
 *
 * Why this loop differs from sync's, which never awaits I/O: discovery's state is the peer ledger
 * (`PeerManager`), which applies each report atomically through its named operations — workers report
 * to it directly, and the loop owns nothing a slow call could hold up but its round counter and our
 * NodeInfo. A round awaits its GetKnownPeers queries (concurrently, each bounded by `queryTimeoutMs`,
 * equal to the tick by default) so that the same round's trim and dial plan see what those answers
 * taught; dispatching them and moving on would dial from the previous round's news, a tick later. A
 * round that overruns its tick delays the next one, never piles rounds up (`Schedule.fixed`). Dials
 * never hold a round: each runs in its own fiber of the layer's `FiberSet`.
 */
import { Duration, Effect, FiberSet, Option, Ref, Schedule, type Fiber, type Scope } from "effect"
import { shortPeerId, type PeerId } from "../../domain/PeerId.js"
import { isCredible } from "../peers/credibility.js"
import type { DiscoveryRuntime } from "./builder.js"
import { queryTargets } from "./plan/round.js"
import { makeWorkers, supervised } from "./workers.js"

/** Builds the loop's effects. */
export const makeDiscoveryLoop = (rt: DiscoveryRuntime) => {
  const { network, manager, tuning } = rt

  /** Hangs up the worst-ranked connections above target (never those in `keep`), as the ledger ranks them. */
  const trim = (keep: ReadonlySet<PeerId>) =>
    Effect.gen(function* () {
      const connected = yield* network.connectedPeers
      if (connected.length <= tuning.targetConnections) return
      const wanted = yield* Ref.get(rt.wanted)
      const victims = yield* manager.planTrim({ connected, target: tuning.targetConnections, wanted, keep })
      yield* Effect.forEach(victims, network.hangUp, { discard: true })
    })

  const workers = makeWorkers(rt, trim)

  /** Asks the ledger for this round's dials and starts each in its own worker fiber. */
  const dialMissing = Effect.gen(function* () {
    const connectedCount = (yield* network.connectedPeers).length
    const wanted = yield* Ref.get(rt.wanted)
    const seed = yield* rt.random.nextInt
    const orders = yield* manager.planDials({
      connectedCount,
      target: tuning.targetConnections,
      wanted,
      rotationProbability: tuning.rotationProbability,
      seed
    })
    yield* Effect.forEach(orders, (order) => FiberSet.run(rt.dials, supervised(`dial of ${shortPeerId(order.peerId)}`)(workers.dial(order))), {
      discard: true
    })
  })

  /** One round. */
  const round = Effect.gen(function* () {
    yield* rt.resign
    const connected = yield* network.connectedPeers
    const banned = new Set(yield* manager.reconcileConnections(connected))
    yield* manager.cullStale
    yield* Effect.forEach(banned, network.cutOff, { discard: true })
    const seed = yield* rt.random.nextInt
    const credible = new Set<PeerId>()
    for (const peerId of connected) {
      const view = yield* manager.peer(peerId)
      if (Option.isSome(view) && isCredible(view.value.introductions)) credible.add(peerId)
    }
    const targets = queryTargets(connected, banned, tuning.peersToQuery, seed, credible)
    yield* Effect.forEach(targets, workers.query, { concurrency: "unbounded", discard: true })
    yield* trim(new Set())
    yield* dialMissing
    yield* Ref.update(rt.rounds, (n) => n + 1)
  })

  /**
   * The loop: dial seeds and allowlisted peers at once, wait a random fraction of a tick (so that nodes
   * started together do not query in lockstep), then one round per tick. A failing round is logged and
   * the schedule runs the next one; only closing the scope ends the loop.
   */
  const run = Effect.gen(function* () {
    yield* supervised("startup dials")(dialMissing)
    yield* Effect.sleep(Duration.millis(yield* rt.random.nextIntBetween(0, tuning.tickMs)))
    yield* Effect.repeat(supervised("round")(round), Schedule.fixed(Duration.millis(tuning.tickMs)))
  })

  return { run, round, trim, dialMissing, workers }
}

/** Starts the loop in the current scope; closing it interrupts the loop and every dial in flight. */
export const startLoop = (rt: DiscoveryRuntime): Effect.Effect<Fiber.RuntimeFiber<void>, never, Scope.Scope> =>
  Effect.forkScoped(makeDiscoveryLoop(rt).run)
