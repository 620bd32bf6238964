/**
 * Over real gRPC (mutual TLS) on loopback: 5 nodes in one process, each with `GrpcNetworkLayer`, the
 * peer manager and discovery, discover each other from a single seed, on real time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { peerIdFromPublicKey, type PeerId } from "../../../src/domain/PeerId.js"
import { deriveSeed } from "../../../src/testkit/keys.js"
import { NodeCryptoLayer } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { DiscoveryLayer } from "../../../src/layers/discovery/DiscoveryLayer.js"
import { PeerManagerLayer } from "../../../src/layers/peers/PeerManagerLayer.js"
import { makeGrpcNetwork } from "../../../src/layers/network/grpc/GrpcNetworkLayer.js"
import { Crypto } from "../../../src/services/Crypto.js"
import { Network, type NetworkService } from "../../../src/services/Network.js"
import { PeerManager, type PeerManagerService } from "../../../src/services/PeerManager.js"

const NODES = 5
/** Short ticks so that real time stays short; the logic is the same as at 5 s. */
const TUNING = { tickMs: 250, queryTimeoutMs: 2_000 }
const DEADLINE_MS = 30_000

describe("discovery over gRPC", () => {
  it.scopedLive(
    "5 nodes discover each other from a single seed",
    () =>
      Effect.gen(function* () {
        const crypto = yield* Crypto
        const nodes: Array<{ readonly network: NetworkService; readonly manager: PeerManagerService }> = []
        let seed: { readonly peerId: PeerId; readonly address: string } | undefined
        for (let i = 0; i < NODES; i++) {
          const keypair = yield* crypto.keypairFromSeed(deriveSeed("discovery-grpc", i))
          const peerId = peerIdFromPublicKey(keypair.publicKey)
          const network = yield* makeGrpcNetwork({ keypair, listenAddress: "127.0.0.1:0" }).pipe(Effect.orDie)
          const manager = PeerManagerLayer({ localPeerId: peerId, seeds: seed === undefined ? [] : [seed] })
          const discovery = DiscoveryLayer({ keypair, addresses: [network.listenAddress], role: "FullNode", capabilities: 1, ...TUNING })
          const context = yield* Layer.build(
            discovery.pipe(Layer.provideMerge(manager), Layer.provide(Layer.succeed(Network, network)), Layer.provide(Layer.succeed(Crypto, crypto)), Layer.orDie)
          )
          nodes.push({ network, manager: yield* Effect.provide(PeerManager, context) })
          seed ??= { peerId, address: network.listenAddress }
        }

        const converged = Effect.gen(function* () {
          for (const node of nodes) {
            const snapshot = yield* node.manager.snapshot
            if (snapshot.known.filter((v) => v.info !== undefined).length !== NODES - 1) return false
            if ((yield* node.network.connectedPeers).length !== NODES - 1) return false
          }
          return true
        })
        const started = Date.now()
        while (!(yield* converged)) {
          if (Date.now() - started > DEADLINE_MS) break
          yield* Effect.sleep(Duration.millis(100))
        }
        console.log(`grpc: 5 nodes converged in ${Date.now() - started} ms of real time`)
        expect(yield* converged).toBe(true)
        // Everyone stores the others' real addresses, as they advertised them.
        const addresses = new Set(nodes.map((n) => n.network.listenAddress))
        for (const node of nodes) {
          for (const view of (yield* node.manager.snapshot).known) expect(addresses.has(view.info?.info.addresses[0] ?? "")).toBe(true)
        }
      }).pipe(Effect.provide(NodeCryptoLayer)),
    60_000
  )
})
