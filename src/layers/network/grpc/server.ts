/**
 * The inbound half of `GrpcNetworkLayer`: a grpc-js server that moves raw bytes (identity
 * serializers, so a bad request is answered INVALID_ARGUMENT by the shared router rather than
 * INTERNAL by grpc-js), authenticates every caller, and runs each call as a fiber that is interrupted
 * when the call is cancelled, its deadline passes, or the layer shuts down.
 */
import * as grpc from "@grpc/grpc-js"
import { Cause, Clock, Effect, Either, Exit, FiberId, FiberSet, Option, Stream, type Scope } from "effect"
import type { PeerId } from "../../../domain/PeerId.js"
import { HandlerStatus, ListenFailed, StatusCode, type InboundContext } from "../../../services/Network.js"
import type { InboundRoute, InboundRouter } from "../inbound.js"
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, MAX_MESSAGE_BYTES } from "../limits.js"
import { CALLER_TOKEN_METADATA_KEY, CallerTokenVerifier } from "./callerToken.js"
import { peerIdOfCertificate, WELL_KNOWN_CA_PEM, type NodeCertificate } from "./certificate.js"
import { identity, toBuffer, toUint8Array } from "./bytes.js"
import { markedStatus } from "./status.js"

/**
 * HTTP/2 streams one connection may open at once. Above the per-peer call limit, so that a flood is
 * answered RESOURCE_EXHAUSTED by the limiter instead of queueing invisibly in the client.
 */
const MAX_CONCURRENT_STREAMS_PER_CONNECTION = 256
/** Certificates → PeerId remembered (by SHA-256 fingerprint) so a call does not re-parse its certificate. */
const MAX_REMEMBERED_CERTIFICATES = 4_096

/** How the server authenticates callers. */
export type ServerSecurity =
  | { readonly mode: "tls"; readonly certificate: NodeCertificate }
  | { readonly mode: "plaintext" }

/** A running server. */
export interface GrpcServer {
  /** The bound port (the real one when port 0 was asked). */
  readonly port: number
  /** Routes `path` to `route` until the scope closes. */
  readonly serve: (path: string, route: InboundRoute) => Effect.Effect<void, never, Scope.Scope>
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
}): Effect.Effect<GrpcServer, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const { router, security } = options
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

    const authenticate = (call: SurfaceCall): Effect.Effect<PeerId, HandlerStatus> =>
      security.mode === "tls"
        ? Either.match(fromCertificate(call), { onLeft: (reason) => Effect.fail(unauthenticated(reason)), onRight: Effect.succeed })
        : Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const value = call.metadata.get(CALLER_TOKEN_METADATA_KEY)[0]
            const token = value instanceof Uint8Array ? value : undefined
            return Either.match(tokens.verify(token, call.getPeer(), now), {
              onLeft: (reason) => Effect.fail(unauthenticated(reason)),
              onRight: Effect.succeed
            })
          })

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
            "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
            "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
            "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
            "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
            "grpc.max_concurrent_streams": MAX_CONCURRENT_STREAMS_PER_CONNECTION
          })
      ),
      (server) => Effect.sync(() => server.forceShutdown())
    )

    const credentials =
      security.mode === "tls"
        ? grpc.ServerCredentials.createSsl(
            Buffer.from(WELL_KNOWN_CA_PEM),
            [{ private_key: Buffer.from(security.certificate.privateKeyPem), cert_chain: Buffer.from(security.certificate.certificatePem) }],
            true // request and verify a client certificate: that is where the caller's PeerId comes from
          )
        : grpc.ServerCredentials.createInsecure()

    const address = `${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}`
    const port = yield* Effect.async<number, ListenFailed>((resume) => {
      server.bindAsync(address, credentials, (error, port) => {
        if (error) resume(Effect.fail(new ListenFailed({ address, detail: error.message })))
        else resume(Effect.succeed(port))
      })
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

    return { port, serve }
  })
