/**
 * Full nodes for tests and benchmarks that serve and sync commits over real gRPC with an LMDB store,
 * wired by `P2pBuilder` as the node program is (server limits, PeerManager and discovery included), so
 * what tests exercise is the node as shipped.
 */
import { join } from "node:path"
import { Context, Effect, Layer, type Scope } from "effect"
import { toHex } from "../domain/bytes.js"
import { peerIdFromPublicKey, type PeerId } from "../domain/PeerId.js"
import type { GeneratedCommit } from "../testkit/chain.js"
import { deriveSeed, TestSigner } from "../testkit/keys.js"
import type { Ed25519Keypair } from "../services/Crypto.js"
import { Network, type ListenFailed, type NetworkService } from "../services/Network.js"
import { StateSync, type StateSyncService } from "../services/StateSync.js"
import { Store, type StoreError, type StoreInconsistency, type StoreService, type TrustedCheckpoint } from "../services/Store.js"
import type { CommitteeInvalid } from "../services/Verifier.js"
import type { NodeConfig } from "./node/NodeConfig.js"
import { p2pLayer } from "./node/P2pBuilder.js"

/** What a sync node needs. */
export interface SyncNodeConfig {
  readonly keypair: Ed25519Keypair
  readonly listenAddress: string
  readonly storePath: string
  /** Where an empty store starts: genesis (`commitRef.index` 0) or a trusted checkpoint. */
  readonly sync: { readonly start: TrustedCheckpoint }
  readonly plaintext?: boolean
}

/** A running sync node. */
export interface SyncNode {
  readonly network: NetworkService
  readonly store: StoreService
  readonly sync: StateSyncService
}

/** The node configuration of a full node that knows no peer yet (tests and benches dial for it). */
const fullNodeConfig = (config: SyncNodeConfig): NodeConfig => {
  const start = config.sync.start
  return {
    role: "FullNode",
    networkKey: toHex(config.keypair.seed),
    listenAddress: config.listenAddress,
    seedPeers: [],
    allowlistedPeers: [],
    storagePath: config.storePath,
    genesisCommittee: start.committee,
    ...(start.commitRef.index > 0 ? { trustedCheckpoint: start } : {}),
    genesisBalances: [],
    plaintext: config.plaintext === true,
    logLevel: "info",
    discovery: {},
    sync: {},
    limits: {}
  }
}

/**
 * Starts a full node in the current scope, wired by `P2pBuilder` exactly as the node program wires it
 * (gRPC with TLS unless `plaintext`, LMDB, the P2P server's limits, PeerManager, discovery, state
 * sync); closing the scope stops it and closes its store.
 */
export const startSyncNode = (config: SyncNodeConfig): Effect.Effect<SyncNode, ListenFailed | StoreError | CommitteeInvalid, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(p2pLayer(fullNodeConfig(config))).pipe(
      // Our own constant knobs: a bad one is a bug here, not an input error.
      Effect.catchTags({ InvalidDiscoveryConfig: Effect.die, InvalidP2pServerConfig: Effect.die })
    )
    return { network: Context.get(context, Network), store: Context.get(context, Store), sync: Context.get(context, StateSync) }
  })

/** A serving node started by `startServingNodes`: where to dial it, and the node itself. */
export interface ServingNode {
  readonly node: SyncNode
  readonly peerId: PeerId
  readonly address: string
}

/**
 * Starts `count` nodes on loopback, each with its own LMDB store under `dir`, and feeds each the whole
 * chain through the validator path — the servers of the sync benchmark and end-to-end tests.
 */
export const startServingNodes = (options: {
  readonly count: number
  readonly label: string
  readonly dir: string
  readonly chain: ReadonlyArray<GeneratedCommit>
  readonly start: TrustedCheckpoint
}): Effect.Effect<ReadonlyArray<ServingNode>, ListenFailed | StoreError | StoreInconsistency | CommitteeInvalid, Scope.Scope> =>
  Effect.forEach(Array.from({ length: options.count }, (_, i) => i), (i) =>
    Effect.gen(function* () {
      const signer = new TestSigner(deriveSeed(options.label, i))
      const node = yield* startSyncNode({
        keypair: { seed: signer.seed, publicKey: signer.publicKey },
        listenAddress: "127.0.0.1:0",
        storePath: join(options.dir, `server-${i}`),
        sync: { start: options.start }
      })
      for (const c of options.chain) yield* node.sync.sendCommit(c.subDag, c.certifierBlocks)
      return { node, peerId: peerIdFromPublicKey(signer.publicKey), address: node.network.listenAddress }
    })
  )
