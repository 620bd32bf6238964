/**
 * In-flight limits of one route: calls per caller and calls in all. A call over either is refused at
 * once (RESOURCE_EXHAUSTED), never queued, so a flood cannot build a queue either.
 */
import { Effect, HashMap, Ref, type Scope } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import { HandlerStatus } from "../../services/Network.js"
import { releaseCallSlot, takeCallSlot } from "../network/inbound.js"

/** The calls of one route in flight. */
interface InFlight {
  readonly total: number
  readonly byPeer: HashMap.HashMap<PeerId, number>
}

/** Pure: take a slot for `peerId` if both limits allow it. */
export const takeSlot = (state: InFlight, peerId: PeerId, perPeer: number, total: number): readonly [boolean, InFlight] => {
  if (state.total >= total) return [false, state]
  const [taken, byPeer] = takeCallSlot(state.byPeer, peerId, perPeer)
  return taken ? [true, { total: state.total + 1, byPeer }] : [false, state]
}

/** Pure: give a slot of `peerId` back. */
export const releaseSlot = (state: InFlight, peerId: PeerId): InFlight => ({
  total: Math.max(0, state.total - 1),
  byPeer: releaseCallSlot(state.byPeer, peerId)
})

/** The slots of one route. */
export interface RouteSlots {
  /** A slot for `peerId` until the scope closes, or RESOURCE_EXHAUSTED. */
  readonly acquire: (peerId: PeerId) => Effect.Effect<void, HandlerStatus, Scope.Scope>
  /** Calls in flight (for tests and metrics). */
  readonly inFlight: Effect.Effect<number>
}

/** Makes the slots of a route named `name` with the given limits. */
export const makeRouteSlots = (name: string, perPeer: number, total: number): Effect.Effect<RouteSlots> =>
  Effect.map(Ref.make<InFlight>({ total: 0, byPeer: HashMap.empty() }), (state) => ({
    acquire: (peerId) =>
      Effect.acquireRelease(
        Ref.modify(state, (current) => takeSlot(current, peerId, perPeer, total)).pipe(
          Effect.flatMap((taken) =>
            taken ? Effect.void : Effect.fail(HandlerStatus.resourceExhausted(`${name}: more than ${perPeer} calls from this peer or ${total} in all in flight`))
          )
        ),
        () => Ref.update(state, (current) => releaseSlot(current, peerId))
      ).pipe(
        // acquireRelease only registers the release when the acquisition succeeded.
        Effect.asVoid
      ),
    inFlight: Effect.map(Ref.get(state), (s) => s.total)
  }))
