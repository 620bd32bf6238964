/**
 * `P2pBuilder`: the one place where the node's graph is wired. From a `NodeConfig` it composes Crypto,
 * Verifier, Network, Store, PeerManager, Discovery and StateSync into one `Layer`. A simulation passes
 * its own network, store and crypto layers (and runs under `TestClock`); everything else stays the same.
 * The sync-only preset (`syncNodeLayer`) is the same node without discovery — for benches and tests whose
 * peers are dialled by the caller or listed as seeds — with the same server limits, timing and ledger.
 */
import { Layer } from "effect"
import { fromHex } from "../../domain/bytes.js"
import { Capability } from "../../domain/nodeInfo.js"
import { peerIdFromPublicKey, type PeerId } from "../../domain/PeerId.js"
import { ZERO_DIGEST } from "../../domain/primitives.js"
import { keypairFromSeedSync, NodeCryptoLayer } from "../../layers/crypto/NodeCryptoLayer.js"
import { DiscoveryLayer } from "../../layers/discovery/DiscoveryLayer.js"
import { PeerManagerLayer } from "../../layers/peers/PeerManagerLayer.js"
import { makeGrpcNetwork } from "../../layers/network/grpc/GrpcNetworkLayer.js"
import { NetworkTimingLayer } from "../../layers/metrics/NetworkTimingLayer.js"
import type { InvalidP2pServerConfig } from "../../layers/server/config.js"
import { P2pServerLayer } from "../../layers/server/P2pServerLayer.js"
import { LmdbStoreLayer } from "../../layers/store/LmdbStoreLayer.js"
import { SyncLayer } from "../../layers/sync/SyncLayer.js"
import { VerifierLayer } from "../../layers/verifier/VerifierLayer.js"
import type { Crypto, Ed25519Keypair } from "../../services/Crypto.js"
import type { Discovery, InvalidDiscoveryConfig } from "../../services/Discovery.js"
import { Network, type ListenFailed } from "../../services/Network.js"
import type { PeerManager } from "../../services/PeerManager.js"
import type { StateSync } from "../../services/StateSync.js"
import type { Store, StoreError, TrustedCheckpoint } from "../../services/Store.js"
import type { CommitteeInvalid, Verifier } from "../../services/Verifier.js"
import type { NodeConfig } from "./NodeConfig.js"

/** Everything the node's P2P layer provides. */
export type P2pServices = Crypto | Verifier | Network | Store | PeerManager | Discovery | StateSync

/** What the sync-only preset provides (no discovery). */
export type SyncNodeServices = Exclude<P2pServices, Discovery>

/** Layers a simulation or test swaps in; the defaults are real gRPC, LMDB and native crypto on workers. */
export interface P2pParts<EN = never, ES = never> {
  readonly network?: Layer.Layer<Network, EN>
  readonly store?: Layer.Layer<Store, ES>
  /** E.g. verification on the calling thread, so that a simulation stays deterministic under `TestClock`. */
  readonly crypto?: Layer.Layer<Crypto>
}

/** The network key pair of a configuration. */
export const networkKeypair = (config: NodeConfig): Ed25519Keypair => keypairFromSeedSync(fromHex(config.networkKey))

/** The PeerId of a configuration. */
export const configPeerId = (config: NodeConfig): PeerId => peerIdFromPublicKey(networkKeypair(config).publicKey)

/** Where sync starts on an empty store: the trusted checkpoint, or genesis. */
export const startOf = (config: NodeConfig): TrustedCheckpoint =>
  config.trustedCheckpoint ?? { commitRef: { index: 0, digest: ZERO_DIGEST }, committee: config.genesisCommittee }

/** The real network of a configuration: gRPC with mutual TLS (plaintext only when asked). */
export const grpcNetworkOf = (config: NodeConfig): Layer.Layer<Network, ListenFailed> =>
  Layer.scoped(
    Network,
    makeGrpcNetwork({
      keypair: networkKeypair(config),
      listenAddress: config.listenAddress,
      ...(config.plaintext ? { plaintext: true } : {}),
      ...(config.limits.maxConcurrentCallsPerPeer !== undefined ? { maxConcurrentCallsPerPeer: config.limits.maxConcurrentCallsPerPeer } : {}),
      inboundLimits: {
        ...(config.limits.maxInboundConnections !== undefined ? { maxConnections: config.limits.maxInboundConnections } : {}),
        ...(config.limits.maxInboundConnectionsPerAddress !== undefined ? { maxConnectionsPerAddress: config.limits.maxInboundConnectionsPerAddress } : {})
      }
    })
  )

/** Composes the node's P2P layer from its configuration. */
export const p2pLayer = <EN = ListenFailed, ES = StoreError>(
  config: NodeConfig,
  parts: P2pParts<EN, ES> = {}
): Layer.Layer<P2pServices, EN | ES | InvalidDiscoveryConfig | InvalidP2pServerConfig | CommitteeInvalid> => {
  const keypair = networkKeypair(config)
  const discovery = DiscoveryLayer({
    keypair,
    addresses: [config.externalAddress ?? config.listenAddress],
    role: config.role,
    capabilities: Capability.ServesStateSync | Capability.Archival,
    preferCapabilities: Capability.ServesStateSync,
    ...config.discovery
  })
  return discovery.pipe(Layer.provideMerge(syncNodeLayer(config, parts)))
}

/** The sync-only preset: the node as shipped without discovery. */
export const syncNodeLayer = <EN = ListenFailed, ES = StoreError>(
  config: NodeConfig,
  parts: P2pParts<EN, ES> = {}
): Layer.Layer<SyncNodeServices, EN | ES | InvalidP2pServerConfig | CommitteeInvalid> => {
  const keypair = networkKeypair(config)
  // The transport, then the P2P server: every P2P handler registered through the node's Network goes
  // through its route policies (rate charged by weight, receive limits and counts before decoding,
  // in-flight limits, validation, deadlines, response bounds); then per-method timing of every
  // outbound call for the metrics. Nothing in the node sees the transport's own Network.
  const transport = (parts.network ?? grpcNetworkOf(config)) as Layer.Layer<Network, EN>
  // One peer ledger for the whole node (layers are shared by reference): the server refuses the callers
  // it has banned and reports those that send garbage.
  const peerManager = PeerManagerLayer({
    localPeerId: peerIdFromPublicKey(keypair.publicKey),
    seeds: config.seedPeers,
    allowlisted: config.allowlistedPeers
  })
  const limited = P2pServerLayer(
    config.limits.requestsPerSecondPerPeer !== undefined ? { ratePerSecond: config.limits.requestsPerSecondPerPeer } : {}
  ).pipe(Layer.provide(transport), Layer.provide(peerManager))
  const network = NetworkTimingLayer.pipe(Layer.provide(limited))
  const store = (parts.store ?? LmdbStoreLayer(config.storagePath)) as Layer.Layer<Store, ES>
  const crypto = parts.crypto ?? NodeCryptoLayer
  const verifier = VerifierLayer.pipe(Layer.provideMerge(crypto))
  const sync = SyncLayer({ start: startOf(config), ...config.sync })
  const base = Layer.mergeAll(network, store, verifier, peerManager)
  return sync.pipe(Layer.provideMerge(base))
}
