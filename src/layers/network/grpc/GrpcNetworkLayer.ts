/**
 * `GrpcNetworkLayer`: the `Network` service over gRPC (`@grpc/grpc-js`), authenticated both ways by
 * the nodes' Ed25519 network keys.
 *
 * - TLS (default): each node presents a certificate carrying its network key (`certificate.ts`). The
 *   client pins the key of the PeerId it dialled; the server takes the caller's PeerId from the
 *   client certificate, whose key the TLS handshake proved the caller holds.
 * - Plaintext (`plaintext: true`, for tests and generic gRPC tools only): no transport security; the
 *   caller's PeerId comes from a signed token in metadata (`callerToken.ts`), and the server is not
 *   authenticated to the client.
 *
 * Closing the layer's scope closes the server (cancelling inbound calls) and every channel.
 */
import { Effect, Layer, PubSub, Stream, type Scope } from "effect"
import type { Ed25519Keypair } from "../../../services/Crypto.js"
import { peerIdFromPublicKey } from "../../../domain/PeerId.js"
import { Network, type ListenFailed, type NetworkService, type PeerEvent } from "../../../services/Network.js"
import { makeInboundRouter } from "../inbound.js"
import { DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER, PEER_EVENTS_CAPACITY } from "../limits.js"
import { ed25519PrivateKey, nodeCertificate } from "./certificate.js"
import { makeOutbound } from "./outbound.js"
import { startGrpcServer, type InboundTransportLimits } from "./server.js"

/** Configuration of `GrpcNetworkLayer`. */
export interface GrpcNetworkConfig {
  /** The node's network key pair; its public key is the node's PeerId. */
  readonly keypair: Ed25519Keypair
  /** `host:port` to listen on (`[::1]:port` for IPv6); port 0 picks a free port. */
  readonly listenAddress: string
  /** Turns TLS off. Only for tests and debugging with generic gRPC tools; callers still sign tokens. */
  readonly plaintext?: boolean
  /** Inbound calls one peer may have in flight; more get RESOURCE_EXHAUSTED. */
  readonly maxConcurrentCallsPerPeer?: number
  /** Inbound connection caps and TLS handshake deadline (defaults in `server.ts`). */
  readonly inboundLimits?: Partial<InboundTransportLimits>
}

/** Splits `host:port` / `[v6]:port`. */
const parseListenAddress = (address: string): { readonly host: string; readonly port: number } => {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address)
  const port = Number(match?.[3])
  if (match === null || port > 65_535) throw new Error(`listen address must be host:port, got ${address}`)
  return { host: match[1] ?? match[2] ?? "", port }
}

/** Builds the service in the current scope (several nodes may share one scope, as tests do). */
export const makeGrpcNetwork = (config: GrpcNetworkConfig): Effect.Effect<NetworkService, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const localPeerId = peerIdFromPublicKey(config.keypair.publicKey)
    const { host, port } = yield* Effect.try({ try: () => parseListenAddress(config.listenAddress), catch: (error) => error }).pipe(Effect.orDie)
    // Also checks that the seed and public key belong together (a wrong pair would announce a PeerId
    // whose handshakes fail).
    const certificate = yield* Effect.try({ try: () => nodeCertificate(config.keypair), catch: (error) => error }).pipe(Effect.orDie)
    const plaintext = config.plaintext === true

    const events = yield* Effect.acquireRelease(PubSub.sliding<PeerEvent>(PEER_EVENTS_CAPACITY), PubSub.shutdown)
    const router = yield* makeInboundRouter({
      maxConcurrentCallsPerPeer: config.maxConcurrentCallsPerPeer ?? DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER
    })
    const server = yield* startGrpcServer({
      host,
      port,
      localPeerId,
      security: plaintext ? { mode: "plaintext" } : { mode: "tls", certificate },
      router,
      ...(config.inboundLimits === undefined ? {} : { limits: config.inboundLimits })
    })
    const outbound = yield* makeOutbound({
      localPeerId,
      security: plaintext
        ? { mode: "plaintext", signer: { privateKey: ed25519PrivateKey(config.keypair.seed), publicKey: config.keypair.publicKey } }
        : { mode: "tls", certificate },
      events
    })

    return {
      localPeerId,
      listenAddress: `${host.includes(":") ? `[${host}]` : host}:${server.port}`,
      ...outbound,
      cutOff: (peerId) => Effect.zipRight(outbound.hangUp(peerId), server.closeCaller(peerId)),
      handleUnary: (method, handler) => Effect.flatMap(router.addUnary(method, handler), (route) => server.serve(method.path, route)),
      handleServerStream: (method, handler) =>
        Effect.flatMap(router.addServerStream(method, handler), (route) => server.serve(method.path, route)),
      peerEvents: Stream.fromPubSub(events, { scoped: true })
    } satisfies NetworkService
  })

/** The `Network` service over gRPC on loopback or a real interface. */
export const GrpcNetworkLayer = (config: GrpcNetworkConfig): Layer.Layer<Network, ListenFailed> =>
  Layer.scoped(Network, makeGrpcNetwork(config))
