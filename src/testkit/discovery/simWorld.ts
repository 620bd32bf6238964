/**
 * A simulated discovery network for tests and the benchmark: N nodes, each a `SimNetworkLayer` +
 * `PeerManagerLayer` + `DiscoveryLayer` in its own scope (so it can be stopped and restarted with the
 * same key and address), on one `SimNetwork` world, sharing one `Crypto`. Node i's keys come from the
 * world's seed and i; its `Random` from the seed, i and how often it was started — so a run is
 * reproducible from one seed under any deterministic clock.
 */
import { Effect, ExecutionStrategy, Exit, Layer, Random, Scope } from "effect"
import { Capability } from "../../domain/nodeInfo.js"
import { peerIdFromPublicKey, type PeerId } from "../../domain/PeerId.js"
import { deriveSeed } from "../keys.js"
import { Crypto, type Ed25519Keypair } from "../../services/Crypto.js"
import { Discovery, type DiscoveryService } from "../../services/Discovery.js"
import { Network, type NetworkService } from "../../services/Network.js"
import { PeerManager, type PeerManagerService, type PeerPolicy } from "../../services/PeerManager.js"
import { SimNetwork, type SimNetworkService } from "../../layers/network/sim/SimNetwork.js"
import { SimNetworkLayer } from "../../layers/network/sim/SimNetworkLayer.js"
import type { DiscoveryTuning } from "../../layers/discovery/constants.js"
import { DiscoveryLayer } from "../../layers/discovery/DiscoveryLayer.js"
import { PeerManagerLayer } from "../../layers/peers/PeerManagerLayer.js"
import { CONFIRMATION_DIALS_PER_ROUND, FEELERS_PER_ROUND, LEARNING_DIALS_PER_ROUND } from "../../layers/peers/policy.js"

/** What to simulate. */
export interface SimDiscoveryConfig {
  /** Keys, per-node randomness: the same seed gives the same run. */
  readonly seed: number
  readonly nodes: number
  /** Seed peers of node i (by index); default: node 0 for everyone else, none for node 0. */
  readonly seedsOf?: (index: number) => ReadonlyArray<number>
  /** Seed peers of node i from outside the world's nodes (e.g. a Byzantine node a test attached). */
  readonly extraSeedsOf?: (index: number) => ReadonlyArray<{ readonly peerId: PeerId; readonly address: string }>
  readonly tuning?: Partial<DiscoveryTuning>
  readonly policy?: Partial<PeerPolicy>
}

/** One running node. */
export interface SimDiscoveryNode {
  readonly index: number
  readonly peerId: PeerId
  readonly network: NetworkService
  readonly manager: PeerManagerService
  readonly discovery: DiscoveryService
}

/** The simulation's handles. */
export interface SimDiscoveryWorld {
  readonly world: SimNetworkService
  readonly peerIds: ReadonlyArray<PeerId>
  readonly keypairs: ReadonlyArray<Ed25519Keypair>
  /** The running node at an index (`undefined` while stopped). */
  readonly node: (index: number) => SimDiscoveryNode | undefined
  /** The running nodes. */
  readonly running: () => ReadonlyArray<SimDiscoveryNode>
  /** Starts node `index` (again, after `stop`: same key and address, fresh state). */
  readonly start: (index: number) => Effect.Effect<SimDiscoveryNode>
  /** Stops node `index` by closing its scope. */
  readonly stop: (index: number) => Effect.Effect<void>
}

/** The simulated address of a node. */
export const simAddress = (peerId: PeerId): string => `sim://${peerId}`

/** Keys of the simulation `seed`: node i's network key pair. */
export const simKeypairs = (seed: number, count: number): Effect.Effect<ReadonlyArray<Ed25519Keypair>, never, Crypto> =>
  Effect.flatMap(Crypto, (crypto) => Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => crypto.keypairFromSeed(deriveSeed("discovery-sim", seed, i))))

/** Builds the world's nodes (not started) in the current scope; the world must be provided. */
export const makeSimDiscoveryWorld = (config: SimDiscoveryConfig): Effect.Effect<SimDiscoveryWorld, never, Crypto | SimNetwork | Scope.Scope> =>
  Effect.gen(function* () {
    const world = yield* SimNetwork
    const crypto = yield* Crypto
    const parent = yield* Effect.scope
    const keypairs = yield* simKeypairs(config.seed, config.nodes)
    const peerIds = keypairs.map((k) => peerIdFromPublicKey(k.publicKey))
    const seedsOf = config.seedsOf ?? ((i: number) => (i === 0 ? [] : [0]))
    const running = new Map<number, { readonly node: SimDiscoveryNode; readonly scope: Scope.CloseableScope }>()
    const generation = new Map<number, number>()

    const layerOf = (index: number) => {
      const peerId = peerIds[index] as PeerId
      const keypair = keypairs[index] as Ed25519Keypair
      const network = SimNetworkLayer({ peerId, address: simAddress(peerId) })
      const manager = PeerManagerLayer({
        localPeerId: peerId,
        seeds: [
          ...seedsOf(index).map((s) => ({ peerId: peerIds[s] as PeerId, address: simAddress(peerIds[s] as PeerId) })),
          ...(config.extraSeedsOf?.(index) ?? [])
        ],
        ...(config.policy === undefined ? {} : { policy: config.policy })
      })
      const discovery = DiscoveryLayer({
        keypair,
        addresses: [simAddress(peerId)],
        role: "FullNode",
        capabilities: Capability.ServesStateSync,
        ...config.tuning
      })
      return discovery.pipe(Layer.provideMerge(Layer.merge(network, manager)), Layer.orDie)
    }

    const start = (index: number): Effect.Effect<SimDiscoveryNode> =>
      Effect.gen(function* () {
        if (running.has(index)) return yield* Effect.dieMessage(`node ${index} is already running`)
        const started = (generation.get(index) ?? 0) + 1
        generation.set(index, started)
        const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
        const context = yield* Layer.buildWithScope(layerOf(index), scope).pipe(
          Effect.provideService(SimNetwork, world),
          Effect.provideService(Crypto, crypto),
          Effect.withRandom(Random.make(`discovery-sim/${config.seed}/${index}/${started}`))
        )
        const node: SimDiscoveryNode = {
          index,
          peerId: peerIds[index] as PeerId,
          network: yield* Effect.provide(Network, context),
          manager: yield* Effect.provide(PeerManager, context),
          discovery: yield* Effect.provide(Discovery, context)
        }
        running.set(index, { node, scope })
        return node
      })

    const stop = (index: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        const entry = running.get(index)
        if (entry === undefined) return Effect.void
        running.delete(index)
        return Scope.close(entry.scope, Exit.void)
      })

    return {
      world,
      peerIds,
      keypairs,
      node: (index) => running.get(index)?.node,
      running: () => [...running.keys()].sort((a, b) => a - b).map((i) => (running.get(i) as { node: SimDiscoveryNode }).node),
      start,
      stop
    }
  })

/** How far one node is from having converged among `peers` (the other nodes it should know). */
export interface NodeConvergence {
  readonly index: number
  /** Peers of `peers` it holds no NodeInfo for (or only one older than `freshSinceMs`). */
  readonly missing: number
  readonly connected: number
}

/**
 * Whether every running node knows every other one in `among` (a NodeInfo signed at or after
 * `freshSinceMs`) and holds `min(target, |among| − 1)` connections — or up to `FEELERS_PER_ROUND` +
 * `LEARNING_DIALS_PER_ROUND` + `CONFIRMATION_DIALS_PER_ROUND` more: a feeler, a learning or a
 * confirmation dial (short connections, dropped after one query or none) may be open when the world is looked at.
 */
export const convergence = (
  sim: SimDiscoveryWorld,
  among: ReadonlyArray<number>,
  target: number,
  freshSinceMs = 0
): Effect.Effect<{ readonly converged: boolean; readonly nodes: ReadonlyArray<NodeConvergence> }> =>
  Effect.gen(function* () {
    const wantConnections = Math.min(target, among.length - 1)
    const nodes: Array<NodeConvergence> = []
    for (const index of among) {
      const node = sim.node(index)
      if (node === undefined) continue
      const snapshot = yield* node.manager.snapshot
      const fresh = new Set(
        snapshot.known.filter((v) => v.info !== undefined && v.info.info.timestampMs >= freshSinceMs && !v.banned).map((v) => v.peerId)
      )
      const missing = among.filter((j) => j !== index && !fresh.has(sim.peerIds[j] as PeerId)).length
      const connected = (yield* node.network.connectedPeers).length
      nodes.push({ index, missing, connected })
    }
    const atTarget = (connected: number) => connected >= wantConnections && connected <= wantConnections + FEELERS_PER_ROUND + LEARNING_DIALS_PER_ROUND + CONFIRMATION_DIALS_PER_ROUND
    return { converged: nodes.every((n) => n.missing === 0 && atTarget(n.connected)), nodes }
  })
