/**
 * The inbound half of `GrpcNetworkLayer`: a grpc-js server that moves raw bytes (identity
 * serializers, so a bad request is answered INVALID_ARGUMENT by the shared router rather than
 * INTERNAL by grpc-js), authenticates every caller, and runs each call as a fiber that is interrupted
 * when the call is cancelled, its deadline passes, or the layer shuts down.
 *
 * What an attacker can make the transport hold is bounded before any handler runs: requests are
 * capped at `MAX_REQUEST_BYTES` after decompression, connections in total and per address, TLS
 * handshakes in time (`listener.ts`, `inboundConnections.ts`), HTTP/2 streams per connection, and in
 * plaintext mode the caller tokens a connection can make us remember (`callerTokenVerifier.ts`).
 */
import * as grpc from "@grpc/grpc-js"
import { Cause, Clock, Effect, Either, Exit, FiberId, FiberSet, Option, Stream, type Scope } from "effect"
import type { PeerId } from "../../../domain/PeerId.js"
import { HandlerStatus, ListenFailed, StatusCode, type InboundContext } from "../../../services/Network.js"
import type { InboundRoute, InboundRouter } from "../inbound.js"
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES } from "../limits.js"
import { CALLER_TOKEN_METADATA_KEY } from "./callerToken.js"
import { CallerTokenVerifier } from "./callerTokenVerifier.js"
import { callTracking } from "./callTracking.js"
import { peerIdOfCertificate, WELL_KNOWN_CA_PEM, type NodeCertificate } from "./certificate.js"
import { identity, toBuffer, toUint8Array } from "./bytes.js"
import { DEFAULT_INBOUND_CONNECTION_LIMITS, InboundConnectionTable, type InboundConnectionLimits } from "./inboundConnections.js"
import { listen, TLS_HANDSHAKE_TIMEOUT_MS } from "./listener.js"
import { markedStatus } from "./status.js"

/**
 * HTTP/2 streams one connection may open at once. Advertised in SETTINGS, so honest clients queue
 * above it; a client that ignores it loses its connection (nghttp2 answers a stream past an
 * acknowledged limit with GOAWAY). Above the per-peer call limit, so that a flood is answered
 * RESOURCE_EXHAUSTED by the limiter instead of queueing invisibly in the client.
 */
export const MAX_CONCURRENT_STREAMS_PER_CONNECTION = 256
/** Certificates → PeerId remembered (by SHA-256 fingerprint) so a call does not re-parse its certificate. */
const MAX_REMEMBERED_CERTIFICATES = 4_096

/** How the server authenticates callers. */
export type ServerSecurity =
  | { readonly mode: "tls"; readonly certificate: NodeCertificate }
  | { readonly mode: "plaintext" }

/** Limits of the inbound transport that a caller (or a test) may change. */
export interface InboundTransportLimits extends InboundConnectionLimits {
  /** Time a TLS handshake may take. */
  readonly tlsHandshakeTimeoutMs: number
}

/** The defaults, each explained where it is defined. */
export const DEFAULT_INBOUND_TRANSPORT_LIMITS: InboundTransportLimits = {
  ...DEFAULT_INBOUND_CONNECTION_LIMITS,
  tlsHandshakeTimeoutMs: TLS_HANDSHAKE_TIMEOUT_MS
}

/** A running server. */
export interface GrpcServer {
  /** The bound port (the real one when port 0 was asked). */
  readonly port: number
  /** Routes `path` to `route` until the scope closes. */
  readonly serve: (path: string, route: InboundRoute) => Effect.Effect<void, never, Scope.Scope>
  /** Closes every inbound connection `peerId` authenticated on; answers how many. */
  readonly closeCaller: (peerId: PeerId) => Effect.Effect<number>
}

/** What authentication needs from any kind of server call. */
type SurfaceCall = Pick<grpc.ServerUnaryCall<Buffer, Buffer>, "getAuthContext" | "getPeer" | "metadata">

const unauthenticated = (detail: string) => new HandlerStatus({ code: "UNAUTHENTICATED", detail })

/** Starts a server on `host:port`; closing the scope shuts it down, cancelling every call in flight. */
export const startGrpcServer = (options: {
  readonly host: string
  readonly port: number
  readonly localPeerId: PeerId
  readonly security: ServerSecurity
  readonly router: InboundRouter
  readonly limits?: Partial<InboundTransportLimits>
}): Effect.Effect<GrpcServer, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const { router, security } = options
    const limits = { ...DEFAULT_INBOUND_TRANSPORT_LIMITS, ...options.limits }
    const connections = new InboundConnectionTable(limits)
    // In-flight calls run in this set: the layer's scope interrupts whatever is left.
    const fibers = yield* FiberSet.make<unknown, unknown>()
    const runFork = yield* FiberSet.runtime(fibers)<never>()

    const certificates = new Map<string, PeerId | undefined>()
    const tokens = new CallerTokenVerifier(options.localPeerId)

    const fromCertificate = (call: SurfaceCall): Either.Either<PeerId, string> => {
      const certificate = call.getAuthContext().sslPeerCertificate
      if (certificate === undefined) return Either.left("no verified client certificate")
      let peerId = certificates.get(certificate.fingerprint256)
      if (!certificates.has(certificate.fingerprint256)) {
        peerId = peerIdOfCertificate(certificate.raw)
        if (certificates.size >= MAX_REMEMBERED_CERTIFICATES) certificates.clear()
        certificates.set(certificate.fingerprint256, peerId)
      }
      return peerId === undefined ? Either.left("client certificate carries no acceptable Ed25519 key") : Either.right(peerId)
    }

    const identify = (call: SurfaceCall): Effect.Effect<PeerId, HandlerStatus> =>
      security.mode === "tls"
        ? Either.match(fromCertificate(call), { onLeft: (reason) => Effect.fail(unauthenticated(reason)), onRight: Effect.succeed })
        : Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const value = call.metadata.get(CALLER_TOKEN_METADATA_KEY)[0]
            const token = value instanceof Uint8Array ? value : undefined
            return Either.match(tokens.verify(token, call.getPeer(), now), {
              onLeft: (refusal) => Effect.fail(new HandlerStatus({ code: refusal.code, detail: refusal.reason })),
              onRight: Effect.succeed
            })
          })

    /** The caller's PeerId; its connection is authenticated from then on (it no longer gives way). */
    const authenticate = (call: SurfaceCall): Effect.Effect<PeerId, HandlerStatus> =>
      Effect.tap(identify(call), (peerId) => Effect.sync(() => connections.authenticated(call.getPeer(), peerId)))

    const statusOfExit = (exit: Exit.Exit<unknown, HandlerStatus>): Partial<grpc.StatusObject> =>
      Exit.isFailure(exit)
        ? Option.match(Cause.failureOption(exit.cause), {
            onSome: (status) => markedStatus(StatusCode[status.code], status.detail),
            // Interrupted: the call was cancelled (nobody listens) or the node is shutting down. Not
            // marked as a handler's answer: to the caller it is the peer going away.
            onNone: () => ({ code: StatusCode.UNAVAILABLE, details: "server shutting down" })
          })
        : { code: StatusCode.OK }

    const unaryHandler =
      (path: string, route: InboundRoute & { kind: "unary" }): grpc.handleUnaryCall<Buffer, Buffer> =>
      (call, callback) => {
        const fiber = runFork(
          authenticate(call).pipe(Effect.flatMap((peerId) => router.serveUnary(route, toUint8Array(call.request), { peerId, path } satisfies InboundContext)))
        )
        call.once("cancelled", () => fiber.unsafeInterruptAsFork(FiberId.none))
        fiber.addObserver((exit) => {
          if (Exit.isSuccess(exit)) callback(null, toBuffer(exit.value))
          else callback(statusOfExit(exit))
        })
      }

    const write = (call: grpc.ServerWritableStream<Buffer, Buffer>, bytes: Uint8Array) =>
      Effect.async<void>((resume) => {
        if (call.write(toBuffer(bytes))) return resume(Effect.void)
        const onDrain = () => resume(Effect.void)
        call.once("drain", onDrain)
        return Effect.sync(() => call.removeListener("drain", onDrain))
      })

    const streamHandler =
      (path: string, route: InboundRoute & { kind: "serverStream" }): grpc.handleServerStreamingCall<Buffer, Buffer> =>
      (call) => {
        const fiber = runFork(
          authenticate(call).pipe(
            Effect.flatMap((peerId) =>
              Stream.runForEach(router.serveServerStream(route, toUint8Array(call.request), { peerId, path }), (bytes) => write(call, bytes))
            )
          )
        )
        call.once("cancelled", () => fiber.unsafeInterruptAsFork(FiberId.none))
        fiber.addObserver((exit) => {
          if (Exit.isSuccess(exit)) call.end()
          else call.emit("error", statusOfExit(exit))
        })
      }

    const server = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new grpc.Server({
            // Checked on the declared length before a message is buffered, and on the decompressed
            // length while inflating (grpc-js stops a gzip bomb at this size): RESOURCE_EXHAUSTED.
            // Compressed requests are accepted, not refused: our client never compresses, but refusing
            // would need grpc-js internals (it strips `grpc-encoding` before interceptors see the
            // metadata), and capped like this a bomb costs at most 64 KiB of inflating.
            "grpc.max_receive_message_length": MAX_REQUEST_BYTES,
            "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
            "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
            "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
            "grpc.max_concurrent_streams": MAX_CONCURRENT_STREAMS_PER_CONNECTION,
            interceptors: [callTracking(connections)]
          })
      ),
      (server) => Effect.sync(() => server.forceShutdown())
    )

    // We accept connections ourselves (caps, TLS handshake deadline) and inject them; grpc-js only
    // ever sees admitted sockets, already secured in TLS mode (see listener.ts).
    const injector = yield* Effect.acquireRelease(
      Effect.sync(() => server.createConnectionInjector(grpc.ServerCredentials.createInsecure())),
      (injector) => Effect.sync(() => injector.destroy())
    )
    const port = yield* listen({
      host: options.host,
      port: options.port,
      table: connections,
      tls:
        security.mode === "tls"
          ? {
              caPem: WELL_KNOWN_CA_PEM,
              certificatePem: security.certificate.certificatePem,
              privateKeyPem: security.certificate.privateKeyPem,
              handshakeTimeoutMs: limits.tlsHandshakeTimeoutMs
            }
          : undefined,
      inject: (socket) => injector.injectConnection(socket)
    })

    const serve = (path: string, route: InboundRoute) =>
      Effect.acquireRelease(
        Effect.sync(() =>
          route.kind === "unary"
            ? server.register(path, unaryHandler(path, route), identity, identity, "unary")
            : server.register(path, streamHandler(path, route), identity, identity, "serverStream")
        ),
        () => Effect.sync(() => server.unregister(path))
      ).pipe(Effect.asVoid)

    return { port, serve, closeCaller: (peerId: PeerId) => Effect.sync(() => connections.closeCaller(peerId)) }
  })
