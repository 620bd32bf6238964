/**
 * Harnesses of the contract suite: fresh nodes per test, each in its own scope (so a test can shut
 * one down), on real time for gRPC and on `TestClock` for the simulation.
 */
import { it } from "@effect/vitest"
import { Chunk, Duration, Effect, ExecutionStrategy, Exit, Fiber, Option, Scope, TestClock } from "effect"
import { makeGrpcNetwork } from "../../../src/layers/network/grpc/GrpcNetworkLayer.js"
import { makeSimNetwork, SimNetwork, type SimNetworkConfig } from "../../../src/layers/network/sim/SimNetwork.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import type { NetworkService } from "../../../src/services/Network.js"
import { CONTRACT_CALL_LIMIT, type ContractContext, type NetworkHarness } from "./contract.js"
import { testKeypair, testPeerId } from "./fixtures.js"

/** `settle` gives up after this much simulated time: a hang is a failure, not a stuck test. */
const SIM_SETTLE_LIMIT_MS = 10 * 60 * 1000

/**
 * Runs `effect` to its end under `TestClock`, moving simulated time from one pending sleep to the
 * next (so waiting costs nothing and timings stay exact).
 */
export const settleSimulated = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    const start = yield* TestClock.currentTimeMillis
    for (;;) {
      // Let runnable fibers run (and register their sleeps) before looking at the next wake-up.
      yield* TestClock.adjust(Duration.zero)
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return yield* exit.value
      const now = yield* TestClock.currentTimeMillis
      if (now - start > SIM_SETTLE_LIMIT_MS) {
        return yield* Effect.dieMessage(`did not complete within ${SIM_SETTLE_LIMIT_MS} ms of simulated time`)
      }
      // Sleeps of interrupted fibers stay listed; only future ones matter.
      const next = Chunk.reduce(yield* TestClock.sleeps(), Infinity, (earliest, at) => (at > now ? Math.min(earliest, at) : earliest))
      yield* TestClock.adjust(Duration.millis(Number.isFinite(next) ? next - now : 1))
    }
  })

/** Builds `count` nodes, each in a child scope of the test's scope. */
const buildNodes = <E, R>(count: number, make: (index: number) => Effect.Effect<NetworkService, E, R | Scope.Scope>) =>
  Effect.gen(function* () {
    const parent = yield* Effect.scope
    const scopes: Array<Scope.CloseableScope> = []
    const nodes: Array<NetworkService> = []
    for (let index = 0; index < count; index++) {
      const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
      scopes.push(scope)
      nodes.push(yield* Scope.extend(make(index), scope))
    }
    const shutdown = (index: number) => {
      const scope = scopes[index]
      return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
    }
    return { nodes, shutdown }
  })

/** Nodes on a fresh simulated world, under `TestClock`. */
export const simHarness = (world: SimNetworkConfig = { seed: 7 }): NetworkHarness => ({
  pinsServerKey: true,
  test: (name, count, body) =>
    it.scoped(name, () =>
      Effect.gen(function* () {
        const simNetwork = yield* makeSimNetwork(world)
        const { nodes, shutdown } = yield* buildNodes(count, (index) =>
          makeSimNode({ peerId: testPeerId(index), maxConcurrentCallsPerPeer: CONTRACT_CALL_LIMIT }).pipe(Effect.provideService(SimNetwork, simNetwork))
        )
        const context: ContractContext = { nodes, settle: settleSimulated, wait: (d) => TestClock.adjust(d), shutdown }
        yield* body(context)
      })
    )
})

/** Nodes over real gRPC on loopback, on real time. */
export const grpcHarness = (options: { readonly plaintext: boolean }): NetworkHarness => ({
  pinsServerKey: !options.plaintext,
  test: (name, count, body) =>
    it.scopedLive(name, () =>
      Effect.gen(function* () {
        const { nodes, shutdown } = yield* buildNodes(count, (index) =>
          makeGrpcNetwork({
            keypair: testKeypair(index),
            listenAddress: "127.0.0.1:0",
            plaintext: options.plaintext,
            maxConcurrentCallsPerPeer: CONTRACT_CALL_LIMIT
          }).pipe(Effect.orDie)
        )
        const context: ContractContext = { nodes, settle: (effect) => effect, wait: (d) => Effect.sleep(d), shutdown }
        yield* body(context)
      })
    )
})
