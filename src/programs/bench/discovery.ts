/**
 * Discovery benchmark: a simulated network of `--nodes` nodes (default 200) that only know one seed,
 * with real Ed25519 (OpenSSL, verified inline on this thread so the run is deterministic) on virtual
 * time. A share `--sybil` of them (default 0) are attackers (`testkit/discovery/sybil.ts`): they answer
 * every GetKnownPeers with each other and fresh fake identities dated now + 29 s, and call honest nodes
 * to get known and dialled. Reports how many 5 s ticks it takes until every honest node knows every
 * other honest node and holds `targetConnections` connections, the wall-clock cost of simulating one
 * tick of one node, and what the attackers achieved: `honestShare`, the smallest share of honest
 * entries in any honest node's table (usable entries: with a NodeInfo, not banned) or in what it serves
 * (the candidates its answers are drawn from), and `eclipsed`, the honest nodes without an honest
 * connection.
 */
import { Effect, Layer, Logger, LogLevel, Random } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import { makeNodeCrypto } from "../../layers/crypto/NodeCryptoLayer.js"
import { DISCOVERY_TICK_MS, MAX_PEERS_TO_SEND, TARGET_CONNECTIONS } from "../../layers/discovery/constants.js"
import { servableRequest } from "../../layers/discovery/plan/serve.js"
import { SimNetwork } from "../../layers/network/sim/SimNetwork.js"
import { Crypto } from "../../services/Crypto.js"
import { convergence, makeSimDiscoveryWorld, simAddress, type SimDiscoveryWorld } from "../../testkit/discovery/simWorld.js"
import { makeFakeIdentityMint, startSybilNode, type SybilNode } from "../../testkit/discovery/sybil.js"
import { memoizeVerify } from "../../testkit/discovery/memoCrypto.js"
import { makeVirtualTime } from "../../testkit/discovery/virtualTime.js"

/** Nodes simulated by default (the figure). */
const DEFAULT_NODES = 200
/** Seed of keys, randomness and the simulated network. */
const SEED = 200
/** Give up if not converged after this many ticks (the result is then reported as not converged). */
const MAX_TICKS = 30
/** Ticks simulated after convergence, so the cost covers steady state, not only the start-up burst. */
const STEADY_TICKS = 3
/** Virtual time starts at a realistic wall-clock time. */
const START_MS = Date.UTC(2025, 0, 1)
/** Honest nodes each attacker calls per tick to get known (and dialled). */
const ANNOUNCES_PER_TICK = 3
/**
 * New fake identities per virtual second, shared by all attackers (a key costs the simulation ~1 ms):
 * 200 is more than the 20 new peers an honest node admits per answer, so every answer it reads is
 * over budget, and a victim sees fresh identities every second.
 */
const FAKES_PER_SECOND = 200

/** What to simulate. */
export interface DiscoveryBenchOptions {
  readonly nodes?: number
  /** Share of the nodes that are Sybil attackers, in [0, 1). */
  readonly sybil?: number
  /** Stop after this many ticks even if not converged (default `MAX_TICKS`). */
  readonly maxTicks?: number
  /** Called with a line after each simulated tick (the CLI prints it on stderr). */
  readonly onProgress?: (line: string) => void
}

/** The bench's report. */
export interface DiscoveryBenchResult {
  readonly name: "discovery"
  readonly nodes: number
  readonly sybils: number
  /** Ticks until the honest nodes converged (−1 if not within `MAX_TICKS`). */
  readonly ticksToConverge: number
  /**
   * When the run ended (converged or not): the share of the other honest nodes each honest node knew,
   * the smallest and the mean (1 once converged). Says how far a run that did not converge got.
   */
  readonly minHonestKnown: number
  readonly meanHonestKnown: number
  /** Wall-clock ms per simulated tick per node, over the whole run. */
  readonly msPerTickPerNode: number
  /** Smallest share of honest entries in an honest node's table or served candidates (1 without attackers). */
  readonly honestShare: number
  /** The same, over tables only, and over served candidates only. */
  readonly honestShareTable: number
  readonly honestShareServed: number
  /**
   * `honestShare` not counting the attacker nodes themselves: real, reachable peers that honest relays
   * pass on, so an honest table that knows the whole network holds them all and `honestShare` is at most
   * (honest − 1) / (nodes − 1), 0.8999 at 1,000 nodes with 10 % attackers. This share is what the minted
   * identities take, which is what an attacker gains by lying.
   */
  readonly honestShareWithoutAttackerNodes: number
  /** Most fake identities (minted by the attackers) in one honest node's table, and attacker nodes in it. */
  readonly maxFakesInTable: number
  readonly maxAttackersInTable: number
  /** Honest nodes with no connection to an honest node. */
  readonly eclipsed: number
  /** Wall-clock seconds of the whole run. */
  readonly seconds: number
}

/** The bench's options from its command line: `--nodes N`, `--sybil F`. */
export const discoveryBenchOptions = (argv: ReadonlyArray<string>): DiscoveryBenchOptions => {
  const flag = (name: string) => {
    const at = argv.indexOf(name)
    return at >= 0 ? argv[at + 1] : undefined
  }
  const nodes = flag("--nodes")
  const sybil = flag("--sybil")
  const maxTicks = flag("--max-ticks")
  if (nodes !== undefined && !(Number.isInteger(Number(nodes)) && Number(nodes) >= 2)) throw new RangeError(`--nodes must be an integer ≥ 2, got ${nodes}`)
  if (sybil !== undefined && !(Number(sybil) >= 0 && Number(sybil) < 1)) throw new RangeError(`--sybil must be in [0, 1), got ${sybil}`)
  if (maxTicks !== undefined && !(Number.isInteger(Number(maxTicks)) && Number(maxTicks) >= 1)) throw new RangeError(`--max-ticks must be an integer ≥ 1, got ${maxTicks}`)
  return {
    ...(nodes !== undefined ? { nodes: Number(nodes) } : {}),
    ...(sybil !== undefined ? { sybil: Number(sybil) } : {}),
    ...(maxTicks !== undefined ? { maxTicks: Number(maxTicks) } : {})
  }
}

/** The smallest honest share over honest nodes' tables and served candidates, and how many are eclipsed. */
const attackOutcome = (sim: SimDiscoveryWorld, honest: ReadonlyArray<number>, fakes: ReadonlySet<PeerId>, attackers: ReadonlySet<PeerId>) =>
  Effect.gen(function* () {
    let maxFakesInTable = 0
    let maxAttackersInTable = 0
    const honestIds = new Set<PeerId>(honest.map((i) => sim.peerIds[i] as PeerId))
    const shareOf = (peers: ReadonlyArray<PeerId>) => (peers.length === 0 ? 1 : peers.filter((p) => honestIds.has(p)).length / peers.length)
    const shareWithout = (peers: ReadonlyArray<PeerId>) => shareOf(peers.filter((p) => !attackers.has(p)))
    let honestShareTable = 1
    let honestShareServed = 1
    let honestShareWithoutAttackerNodes = 1
    let eclipsed = 0
    for (const index of honest) {
      const node = sim.node(index)
      if (node === undefined) continue
      const usable = (yield* node.manager.snapshot).known.filter((v) => v.info !== undefined && !v.banned).map((v) => v.peerId)
      const served = (yield* node.manager.servableNodeInfos(servableRequest(MAX_PEERS_TO_SEND))).map((s) => s.info.peerId)
      honestShareTable = Math.min(honestShareTable, shareOf(usable))
      maxFakesInTable = Math.max(maxFakesInTable, usable.filter((p) => fakes.has(p)).length)
      maxAttackersInTable = Math.max(maxAttackersInTable, usable.filter((p) => attackers.has(p)).length)
      honestShareServed = Math.min(honestShareServed, shareOf(served))
      honestShareWithoutAttackerNodes = Math.min(honestShareWithoutAttackerNodes, shareWithout(usable), shareWithout(served))
      if (!(yield* node.network.connectedPeers).some((p) => honestIds.has(p))) eclipsed += 1
    }
    return {
      honestShare: Math.min(honestShareTable, honestShareServed),
      honestShareTable,
      honestShareServed,
      honestShareWithoutAttackerNodes,
      maxFakesInTable,
      maxAttackersInTable,
      eclipsed
    }
  })

/** Each attacker calls `ANNOUNCES_PER_TICK` random honest nodes every tick, for as long as the scope lives. */
const announceForever = (sim: SimDiscoveryWorld, sybils: ReadonlyArray<SybilNode>, honest: ReadonlyArray<number>) =>
  Effect.forkScoped(
    Effect.forever(
      Effect.gen(function* () {
        for (const sybil of sybils) {
          for (let k = 0; k < ANNOUNCES_PER_TICK; k++) {
            const target = sim.peerIds[honest[yield* Random.nextIntBetween(0, honest.length)] as number] as PeerId
            yield* Effect.forkScoped(sybil.announceTo(target, simAddress(target)))
          }
        }
        yield* Effect.sleep(DISCOVERY_TICK_MS)
      })
    )
  )

/** Runs the benchmark. */
export const runDiscoveryBench = (options: DiscoveryBenchOptions = {}): Promise<DiscoveryBenchResult> => {
  const nodes = options.nodes ?? DEFAULT_NODES
  const sybilCount = Math.round(nodes * (options.sybil ?? 0))
  const honestCount = nodes - sybilCount
  const time = makeVirtualTime(START_MS)
  const honest = Array.from({ length: honestCount }, (_, i) => i)
  const program = Effect.gen(function* () {
    const started = performance.now()
    const sim = yield* makeSimDiscoveryWorld({ seed: SEED, nodes: honestCount })
    const mint = makeFakeIdentityMint(FAKES_PER_SECOND)
    const sybils: Array<SybilNode> = []
    const friends = (nowMs: number) => sybils.map((s) => s.ownInfoAt(nowMs))
    for (let i = 0; i < sybilCount; i++) sybils.push(yield* startSybilNode({ seed: SEED, index: i, mint, friends }))
    for (const i of honest) yield* sim.start(i)
    if (sybils.length > 0) yield* announceForever(sim, sybils, honest).pipe(Effect.withRandom(Random.make(`discovery-bench/${SEED}`)))
    let ticks = 0
    let ticksToConverge = -1
    let known = { min: 0, mean: 0 }
    const maxTicks = options.maxTicks ?? MAX_TICKS
    while (ticks < maxTicks && ticksToConverge < 0) {
      yield* time.advance(DISCOVERY_TICK_MS)
      ticks += 1
      const state = yield* convergence(sim, honest, TARGET_CONNECTIONS)
      if (state.converged) ticksToConverge = ticks
      const missing = state.nodes.reduce((sum, n) => sum + n.missing, 0)
      const others = Math.max(1, honest.length - 1)
      known = {
        min: Math.min(...state.nodes.map((n) => 1 - n.missing / others)),
        mean: state.nodes.reduce((sum, n) => sum + (1 - n.missing / others), 0) / Math.max(1, state.nodes.length)
      }
      const offTarget = state.nodes.filter((n) => n.connected < Math.min(TARGET_CONNECTIONS, honest.length - 1))
      const connections = offTarget.map((n) => n.connected).join(",")
      // With attackers, what they hold so far (a run stopped early still shows whether they were kept out).
      const attack =
        sybils.length === 0 || options.onProgress === undefined
          ? ""
          : yield* Effect.map(
              attackOutcome(sim, honest, mint.minted(), new Set(sybils.map((s) => s.peerId))),
              (o) => `; honestShare ${o.honestShare.toFixed(3)}, at most ${o.maxFakesInTable} minted identities in a table, ${o.eclipsed} eclipsed`
            )
      options.onProgress?.(
        `tick ${ticks}: ${((performance.now() - started) / 1_000).toFixed(1)} s, ${missing} honest entries missing, ${offTarget.length} nodes short of target connections (${connections})${attack}`
      )
    }
    for (let k = 0; k < STEADY_TICKS && ticksToConverge >= 0; k++) {
      yield* time.advance(DISCOVERY_TICK_MS)
      ticks += 1
    }
    const outcome = yield* attackOutcome(sim, honest, mint.minted(), new Set(sybils.map((s) => s.peerId)))
    const elapsed = performance.now() - started
    return {
      name: "discovery" as const,
      nodes,
      sybils: sybilCount,
      ticksToConverge,
      minHonestKnown: known.min,
      meanHonestKnown: known.mean,
      msPerTickPerNode: elapsed / (ticks * nodes),
      ...outcome,
      seconds: elapsed / 1_000
    }
  })
  // Real Ed25519, each distinct item verified once for the whole simulated network (`memoCrypto.ts`).
  const crypto = Layer.scoped(Crypto, Effect.map(makeNodeCrypto({ inlineBelow: Number.MAX_SAFE_INTEGER, pool: { size: 1 } }), (c) => memoizeVerify(c)))
  return Effect.runPromise(
    time
      .run(Effect.scoped(program).pipe(Effect.provide(Layer.merge(SimNetwork.layer({ seed: SEED }), crypto))))
      // The report is the only output (`--json` is parsed by scripts).
      .pipe(Logger.withMinimumLogLevel(process.env.DISC_DEBUG ? LogLevel.Error : LogLevel.None))
  )
}
