/**
 * A simulated network of syncing nodes: each node is wired by P2pBuilder's sync-only preset (as shipped:
 * server limits, call timing, its own peer ledger) over its own in-memory store and SimNetwork node;
 * validators are filled through the validator path (`sendCommit`). Verification runs on the calling
 * thread (native, no worker pool) so that the simulation stays deterministic under `TestClock`.
 */
import { Context, Effect, Either, ExecutionStrategy, Exit, Layer, Scope, Stream } from "effect"
import { toHex } from "../../../src/domain/bytes.js"
import { syncNodeLayer } from "../../../src/programs/node/P2pBuilder.js"
import type { NodeConfig } from "../../../src/programs/node/NodeConfig.js"
import { StateSync } from "../../../src/services/StateSync.js"
import { decodeBcs, encodeBcs } from "../../../src/domain/codec.js"
import { BlockRefBcs, blockRefKey } from "../../../src/domain/refs.js"
import { withBadBlockSignature } from "../../../src/testkit/faults.js"
import { serveFetchCommits } from "../../../src/layers/sync/serveCommits.js"
import { P2pMethods } from "../../../src/proto/P2pMethods.js"
import type { CommitRef } from "../../../src/domain/refs.js"
import { peerIdFromPublicKey, type PeerId } from "../../../src/domain/PeerId.js"
import { ZERO_DIGEST } from "../../../src/domain/primitives.js"
import type { GeneratedCommit } from "../../../src/testkit/chain.js"
import { deriveSeed, TestSigner } from "../../../src/testkit/keys.js"
import { makeNodeCrypto } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { SimNetwork } from "../../../src/layers/network/sim/SimNetwork.js"
import { makeSimNode } from "../../../src/layers/network/sim/SimNetworkLayer.js"
import { makeMemoryStore } from "../../../src/layers/store/MemoryStoreLayer.js"
import type { SyncConfig } from "../../../src/layers/sync/SyncLayer.js"
import { PeerManager, type PeerManagerService } from "../../../src/services/PeerManager.js"
import { VerifierLayer } from "../../../src/layers/verifier/VerifierLayer.js"
import { Crypto } from "../../../src/services/Crypto.js"
import { Network, type NetworkService } from "../../../src/services/Network.js"
import type { StateSyncService } from "../../../src/services/StateSync.js"
import { Store, type StoreService } from "../../../src/services/Store.js"

/** Native verification on the calling thread: deterministic under TestClock. */
export const InlineCryptoLayer = Layer.scoped(Crypto, makeNodeCrypto({ inlineBelow: Number.POSITIVE_INFINITY, blsInlineBelow: Number.POSITIVE_INFINITY }))
/** The verifier over inline native crypto. */
export const SimVerifierLayer = VerifierLayer.pipe(Layer.provide(InlineCryptoLayer))

export interface SyncSimNode {
  readonly peerId: PeerId
  readonly address: string
  readonly network: NetworkService
  readonly store: StoreService
  readonly sync: StateSyncService
  /** The node's peer ledger (bans, offence counts). */
  readonly peers: PeerManagerService
  /** Stops the node (closes its network, loop and store). */
  readonly stop: Effect.Effect<void>
}

/** The genesis start of a chain. */
export const genesisOf = (chain: ReadonlyArray<GeneratedCommit>): SyncConfig["start"] => ({
  commitRef: { index: 0, digest: ZERO_DIGEST } satisfies CommitRef,
  committee: chain[0]!.committee
})

/** A PeerId for node `n` of a simulation. */
export const simPeerId = (n: number): PeerId => peerIdFromPublicKey(new TestSigner(deriveSeed("sim-node", n)).publicKey)

/** Starts a node in a child scope of the current one; its store is fresh unless given. */
export const startSyncNode = (n: number, config: SyncConfig, store?: StoreService) =>
  Effect.gen(function* () {
    const parent = yield* Effect.scope
    const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
    const peerId = simPeerId(n)
    const built = yield* Scope.extend(
      Effect.gen(function* () {
        const network = yield* makeSimNode({ peerId })
        const nodeStore = store ?? (yield* makeMemoryStore)
        // The node as shipped (P2pBuilder's sync-only preset: server limits, call timing, its own peer
        // ledger), on the simulated network, an in-memory store and verification on the calling thread.
        const layer = syncNodeLayer(simNodeConfig(n, config), {
          network: Layer.succeed(Network, network),
          store: Layer.succeed(Store, nodeStore),
          crypto: InlineCryptoLayer
        })
        const context = yield* Layer.buildWithScope(layer, scope).pipe(Effect.catchTag("InvalidP2pServerConfig", (e) => Effect.die(e)))
        return { network, store: nodeStore, sync: Context.get(context, StateSync), peers: Context.get(context, PeerManager) }
      }),
      scope
    )
    const node: SyncSimNode = { peerId, address: `sim://${peerId}`, ...built, stop: Scope.close(scope, Exit.void) }
    return node
  })

/** The configuration of simulated node `n`: its network key gives `simPeerId(n)`; it starts where `config` says. */
const simNodeConfig = (n: number, config: SyncConfig): NodeConfig => ({
  name: `sim-${n}`,
  role: "FullNode",
  networkKey: toHex(deriveSeed("sim-node", n)),
  listenAddress: "127.0.0.1:0",
  seedPeers: [],
  allowlistedPeers: [],
  storagePath: "(in memory)",
  genesisCommittee: config.start.committee,
  ...(config.start.commitRef.index > 0 ? { trustedCheckpoint: config.start } : {}),
  genesisBalances: [],
  plaintext: false,
  logLevel: "info",
  discovery: {},
  sync: {
    ...(config.window !== undefined ? { window: config.window } : {}),
    ...(config.blockChunksInFlight !== undefined ? { blockChunksInFlight: config.blockChunksInFlight } : {}),
    ...(config.maxRequestsPerPeer !== undefined ? { maxRequestsPerPeer: config.maxRequestsPerPeer } : {}),
    ...(config.heightPollIntervalMs !== undefined ? { heightPollIntervalMs: config.heightPollIntervalMs } : {})
  },
  limits: {}
})

/** Feeds commits `from..to` of the chain through the validator path of a node. */
export const produce = (node: SyncSimNode, chain: ReadonlyArray<GeneratedCommit>, from: number, to: number) =>
  Effect.forEach(
    chain.slice(from - 1, to),
    (c) => Effect.orDie(node.sync.sendCommit(c.subDag, c.certifierBlocks)),
    { discard: true }
  )

/**
 * Feeds commits `from..to` the way consensus does on a validator: each commit is stored at commit time
 * without its votes (`sendCommit`), and the blocks that vote for it (the next round's) are recorded half
 * an interval later (`recordVotes`). Runs for `(to − from + 1) × intervalMs` of (simulated) time.
 */
export const produceAtCommitTime = (node: SyncSimNode, chain: ReadonlyArray<GeneratedCommit>, from: number, to: number, intervalMs: number) =>
  Effect.forEach(
    chain.slice(from - 1, to),
    (c) =>
      Effect.gen(function* () {
        yield* Effect.orDie(node.sync.sendCommit(c.subDag))
        yield* Effect.sleep(intervalMs / 2)
        yield* Effect.orDie(node.sync.recordVotes(c.certifierBlocks))
        yield* Effect.sleep(intervalMs / 2)
      }),
    { discard: true }
  )

export type { SimNetwork }

/** How a Byzantine peer misbehaves. */
export type Fault =
  | "heightLiar" // claims a huge height, serves nothing
  | "blockForger" // serves real commits but forged blocks
  | "commitForger" // serves commits whose certificate lacks quorum votes
  | "staller" // claims the chain, never answers a fetch
  | "blockWithholder" // serves commits and their certifiers (so it proves them), never the commits' own blocks

/**
 * A node that answers the P2P protocol as `fault` says, over a store holding the chain up to `height`
 * (for the parts it answers honestly).
 */
export const startByzantineNode = (n: number, fault: Fault, chain: ReadonlyArray<GeneratedCommit>, height: number) =>
  Effect.gen(function* () {
    const peerId = simPeerId(n)
    const network = yield* makeSimNode({ peerId })
    const store = yield* makeMemoryStore
    yield* Effect.orDie(store.initialise(genesisOf(chain)))
    for (const c of chain.slice(0, height)) yield* Effect.orDie(store.writeCommits([{ subDag: c.subDag }], { extraBlocks: c.certifierBlocks }))
    const claimed = fault === "heightLiar" ? 1_000_000 : height
    /** Certifier blocks named in answers: the only blocks the withholder serves. */
    const servedCertifiers = new Set<string>()
    yield* network.handleUnary(P2pMethods.GetCommitAvailability, () =>
      Effect.succeed({ highestSyncedCommit: claimed, lowestAvailableCommit: 1, epoch: 0 })
    )
    yield* network.handleUnary(P2pMethods.FetchCommits, (request) => {
      switch (fault) {
        case "heightLiar":
          return Effect.succeed({ commits: [], certifierRefs: [] })
        case "staller":
          return Effect.never
        case "blockForger":
        case "commitForger":
        case "blockWithholder":
          return serveFetchCommits(store, store.getCommittee, request.start, request.end, height).pipe(
            Effect.orDie,
            Effect.tap((answer) => Effect.sync(() => answer.certifierRefs.forEach((r) => servedCertifiers.add(blockRefKey(r))))),
            Effect.map((answer) => ({
              commits: answer.commits.map((c) => c.bytes),
              // The commit forger names votes below quorum; its commits can then not be certified.
              certifierRefs: (fault === "commitForger" ? answer.certifierRefs.slice(0, 1) : answer.certifierRefs).map((r) => encodeBcs(BlockRefBcs, r))
            }))
          )
      }
    })
    yield* network.handleServerStream(P2pMethods.FetchBlocks, (request) => {
      if (fault === "staller") return Stream.never
      if (fault === "heightLiar") return Stream.empty
      // The block forger flips a signature bit of each real block: never the block that was asked for.
      const refs = request.blockRefs.flatMap((bytes) => {
        const decoded = decodeBcs(BlockRefBcs, bytes)
        return Either.isRight(decoded) ? [decoded.right] : []
      }).filter((ref) => fault !== "blockWithholder" || servedCertifiers.has(blockRefKey(ref)))
      return Stream.fromEffect(
        store.getBlocks(refs).pipe(
          Effect.orDie,
          Effect.map((blocks) => ({ blocks: blocks.map((b) => (fault === "blockForger" ? withBadBlockSignature(b).bytes : b.bytes)) }))
        )
      )
    })
    return { peerId, address: `sim://${peerId}`, network }
  })
