/**
 * Discovery benchmark: a simulated network of 200 nodes that only know one seed, with real Ed25519
 * (OpenSSL, verified inline on this thread so the run is deterministic) on virtual time. Reports how
 * many 5 s ticks it takes until every node knows every other and holds `targetConnections`
 * connections, and the wall-clock cost of simulating one tick of one node (signing, verifying every
 * NodeInfo received, table updates and the simulator's own overhead).
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import { makeNodeCrypto } from "../../layers/crypto/NodeCryptoLayer.js"
import { DISCOVERY_TICK_MS, TARGET_CONNECTIONS } from "../../layers/discovery/constants.js"
import { convergence, makeSimDiscoveryWorld } from "../../testkit/discovery/simWorld.js"
import { makeVirtualTime } from "../../testkit/discovery/virtualTime.js"
import { SimNetwork } from "../../layers/network/sim/SimNetwork.js"
import { Crypto } from "../../services/Crypto.js"

/** Nodes simulated (the figure). */
const NODES = 200
/** Seed of keys, randomness and the simulated network. */
const SEED = 200
/** Give up if not converged after this many ticks (the result is then reported as not converged). */
const MAX_TICKS = 30
/** Ticks simulated after convergence, so the cost covers steady state, not only the start-up burst. */
const STEADY_TICKS = 3
/** Virtual time starts at a realistic wall-clock time. */
const START_MS = Date.UTC(2025, 0, 1)

/** The bench's report. */
export interface DiscoveryBenchResult {
  readonly name: "discovery"
  readonly nodes: number
  /** Ticks until converged (−1 if not within `MAX_TICKS`). */
  readonly ticksToConverge: number
  /** Wall-clock ms per simulated tick per node, over the whole run. */
  readonly msPerTickPerNode: number
}

/** Runs the benchmark. */
export const runDiscoveryBench = (): Promise<DiscoveryBenchResult> => {
  const time = makeVirtualTime(START_MS)
  const all = Array.from({ length: NODES }, (_, i) => i)
  const program = Effect.gen(function* () {
    const sim = yield* makeSimDiscoveryWorld({ seed: SEED, nodes: NODES })
    const started = performance.now()
    for (const i of all) yield* sim.start(i)
    let ticks = 0
    let ticksToConverge = -1
    while (ticks < MAX_TICKS && ticksToConverge < 0) {
      yield* time.advance(DISCOVERY_TICK_MS)
      ticks += 1
      if ((yield* convergence(sim, all, TARGET_CONNECTIONS)).converged) ticksToConverge = ticks
    }
    for (let k = 0; k < STEADY_TICKS && ticksToConverge >= 0; k++) {
      yield* time.advance(DISCOVERY_TICK_MS)
      ticks += 1
    }
    const elapsed = performance.now() - started
    return { name: "discovery" as const, nodes: NODES, ticksToConverge, msPerTickPerNode: elapsed / (ticks * NODES) }
  })
  const crypto = Layer.scoped(Crypto, makeNodeCrypto({ inlineBelow: Number.MAX_SAFE_INTEGER, pool: { size: 1 } }))
  return Effect.runPromise(
    time
      .run(Effect.scoped(program).pipe(Effect.provide(Layer.merge(SimNetwork.layer({ seed: SEED }), crypto))))
      // The report is the only output (`--json` is parsed by scripts).
      .pipe(Logger.withMinimumLogLevel(LogLevel.None))
  )
}
