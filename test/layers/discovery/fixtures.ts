/**
 * Shared fixtures of the discovery tests: a `Crypto` that verifies on the calling thread (real
 * OpenSSL Ed25519, but no worker round trips, so virtual time sees every step), and a runner that
 * builds a simulated world on virtual time.
 */
import { Effect, Fiber, Layer, type Scope } from "effect"
import { makeNodeCrypto } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { SimNetwork, type SimNetworkConfig } from "../../../src/layers/network/sim/SimNetwork.js"
import { makeVirtualTime, type VirtualTime } from "../../../src/testkit/discovery/virtualTime.js"
import { Crypto } from "../../../src/services/Crypto.js"

/** Native crypto with every batch verified inline (deterministic under virtual time). */
export const InlineCryptoLayer: Layer.Layer<Crypto> = Layer.scoped(
  Crypto,
  makeNodeCrypto({ inlineBelow: Number.MAX_SAFE_INTEGER, pool: { size: 1 } })
)

/** Virtual time starts at a realistic wall-clock time, so "24 h ago" is a valid u64 timestamp. */
export const SIM_START_MS = Date.UTC(2025, 0, 1)

/** Runs `body` on fresh virtual time with a fresh simulated world and inline crypto. */
export const onVirtualTime = <A, E>(
  world: SimNetworkConfig,
  body: (time: VirtualTime) => Effect.Effect<A, E, SimNetwork | Crypto | Scope.Scope>
): Effect.Effect<A, E> => {
  const time = makeVirtualTime(SIM_START_MS)
  return time.run(Effect.scoped(body(time)).pipe(Effect.provide(Layer.merge(SimNetwork.layer(world), InlineCryptoLayer))))
}

/** Runs `effect` while moving virtual time forward by `ms` (for calls on the simulated network). */
export const within = <A, E>(time: VirtualTime, ms: number, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    yield* time.advance(ms)
    return yield* Fiber.join(fiber)
  })
