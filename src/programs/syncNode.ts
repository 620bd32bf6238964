/**
 * A node that serves and syncs commits over real gRPC with an LMDB store: network + store + native
 * crypto + verifier + state sync, wired in one scope. Used by the sync benchmark and the end-to-end
 * tests; the node program's P2pBuilder composes the same layers with discovery added.
 */
import { join } from "node:path"
import { Context, Effect, Layer, type Scope } from "effect"
import { peerIdFromPublicKey, type PeerId } from "../domain/PeerId.js"
import type { GeneratedCommit } from "../domain/testkit/chain.js"
import { deriveSeed, TestSigner } from "../domain/testkit/keys.js"
import type { Ed25519Keypair } from "../services/Crypto.js"
import { Crypto } from "../services/Crypto.js"
import { makeNodeCrypto } from "../layers/crypto/NodeCryptoLayer.js"
import { makeGrpcNetwork } from "../layers/network/grpc/GrpcNetworkLayer.js"
import { makeLmdbStore } from "../layers/store/LmdbStoreLayer.js"
import { makeStateSync, type SyncConfig } from "../layers/sync/SyncLayer.js"
import { VerifierLayer } from "../layers/verifier/VerifierLayer.js"
import { Network, type ListenFailed, type NetworkService } from "../services/Network.js"
import type { StateSyncService } from "../services/StateSync.js"
import { Store, type StoreError, type StoreInconsistency, type StoreService, type TrustedCheckpoint } from "../services/Store.js"
import { Verifier, type CommitteeInvalid } from "../services/Verifier.js"

/** What a sync node needs. */
export interface SyncNodeConfig {
  readonly keypair: Ed25519Keypair
  readonly listenAddress: string
  readonly storePath: string
  readonly sync: SyncConfig
  readonly plaintext?: boolean
}

/** A running sync node. */
export interface SyncNode {
  readonly network: NetworkService
  readonly store: StoreService
  readonly sync: StateSyncService
}

/** Starts a sync node in the current scope; closing the scope stops it and closes its store. */
export const startSyncNode = (config: SyncNodeConfig): Effect.Effect<SyncNode, ListenFailed | StoreError | CommitteeInvalid, Scope.Scope> =>
  Effect.gen(function* () {
    const crypto = yield* makeNodeCrypto()
    const verifierContext = yield* Layer.build(VerifierLayer.pipe(Layer.provide(Layer.succeed(Crypto, crypto))))
    const network = yield* makeGrpcNetwork({ keypair: config.keypair, listenAddress: config.listenAddress, ...(config.plaintext === true ? { plaintext: true } : {}) })
    const store = yield* makeLmdbStore(config.storePath)
    const sync = yield* makeStateSync(config.sync).pipe(
      Effect.provideService(Network, network),
      Effect.provideService(Store, store),
      Effect.provideService(Verifier, Context.get(verifierContext, Verifier))
    )
    return { network, store, sync }
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
