/**
 * The outbound half of `GrpcNetworkLayer`: one grpc-js channel per dialled peer, pinned to the PeerId
 * it was dialled as, with calls that move raw bytes (identity serializers) and decode them with the
 * method's codec. A channel that leaves READY is closed and reported as lost (`ConnectionLost`); it is
 * not silently reconnected, so "connected" always means "authenticated and up". Redialling is the
 * caller's policy (discovery's backoff).
 */
import * as grpc from "@grpc/grpc-js"
import { Clock, Deferred, Duration, Effect, Either, FiberSet, HashMap, Option, PubSub, Ref, Stream, type Scope } from "effect"
import type { PeerId } from "../../../domain/PeerId.js"
import {
  PeerAuthenticationFailed,
  PeerEvent,
  PeerUnavailable,
  ProtocolViolation,
  RequestTooLarge,
  type CallError,
  type CallOptions,
  type DialError,
  type DisconnectReason,
  type NetworkService,
  type ServerStreamMethod,
  type UnaryMethod,
  type UnavailableReason
} from "../../../services/Network.js"
import { CONNECT_TIMEOUT_MS, KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES } from "../limits.js"
import { CALLER_TOKEN_METADATA_KEY, CallerTokenSource, type TokenSigner } from "./callerToken.js"
import { CERTIFICATE_HOSTNAME, peerIdOfCertificate, WELL_KNOWN_CA_PEM, type NodeCertificate } from "./certificate.js"
import { identity, toBuffer, toUint8Array } from "./bytes.js"
import { callErrorOfStatus } from "./status.js"
import { SHUTDOWN_STEP_WARNING_MS, warnIfSlow } from "../../status/slowWarning.js"

/**
 * HTTP/2 receive window per connection and stream. grpc-js's 64 KiB default caps a stream at one
 * window per round trip; Soma uses 32–64 MiB. 16 MiB lets four 4 MiB messages be in flight.
 */
const FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024
/**
 * A channel with no call for this long goes idle and drops its connection, which we report as lost.
 * 24 h: longer than any real quiet period, and below Node's 2^31 ms timer limit.
 */
const CLIENT_IDLE_TIMEOUT_MS = 24 * 60 * 60 * 1000

/** How the client proves its identity and checks the server's. */
/**
 * A call's responses as an async iterable whose `return()` cancels the call first. Stream.fromAsyncIterable
 * ends a stream whose consumer is interrupted by awaiting `iterator.return()` — and a Readable's
 * iterator (an async generator) runs that only after its pending `next()` settles, i.e. after the
 * server's next message or the deadline. A node stopping while a FetchBlocks stream waited on a slow
 * peer stayed up until that deadline (the devnet SIGKILLed it). Cancelling ends the pending `next()`
 * at once (CANCELLED), so `return()` follows.
 */
const cancelOnReturn = (call: grpc.ClientReadableStream<Buffer>): AsyncIterable<Buffer> => ({
  [Symbol.asyncIterator]: () => {
    const inner = (call as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
    return {
      next: () => inner.next(),
      return: async () => {
        call.cancel() // a no-op once the call has ended
        return (await inner.return?.()) ?? { done: true, value: undefined }
      }
    }
  }
})

export type ClientSecurity =
  | { readonly mode: "tls"; readonly certificate: NodeCertificate }
  | { readonly mode: "plaintext"; readonly signer: TokenSigner }

/** The outbound operations of the `Network` service. */
export type Outbound = Pick<NetworkService, "dial" | "hangUp" | "call" | "callStream" | "connectedPeers">

interface Cancellable {
  cancel(): void
}

/** One dialled peer: its channel, the calls in flight on it, and why it was closed (once it is). */
class OutboundConnection {
  closedReason: UnavailableReason | undefined = undefined
  private readonly calls = new Set<Cancellable>()

  constructor(
    readonly peerId: PeerId,
    readonly address: string,
    readonly client: grpc.Client,
    private readonly tokens: CallerTokenSource | undefined
  ) {}

  metadata(nowMs: number): grpc.Metadata {
    const metadata = new grpc.Metadata()
    if (this.tokens !== undefined) metadata.set(CALLER_TOKEN_METADATA_KEY, this.tokens.current(nowMs))
    return metadata
  }

  track(call: Cancellable): void {
    this.calls.add(call)
  }

  untrack(call: Cancellable): void {
    this.calls.delete(call)
  }

  /** Cancels every call in flight (they fail with `reason`) and closes the channel. Idempotent. */
  close(reason: UnavailableReason): void {
    if (this.closedReason !== undefined) return
    this.closedReason = reason
    for (const call of this.calls) call.cancel()
    this.calls.clear()
    this.client.close()
  }
}


type ReadyOutcome = "ready" | "failed" | "timeout"

/** Starts connecting and waits until the channel is READY, fails, or `deadlineMs` passes. */
const awaitReady = (client: grpc.Client, deadlineMs: number): Effect.Effect<ReadyOutcome> =>
  Effect.async<ReadyOutcome>((resume) => {
    const channel = client.getChannel()
    const check = (): void => {
      const state = channel.getConnectivityState(true)
      if (state === grpc.connectivityState.READY) return resume(Effect.succeed("ready"))
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
        return resume(Effect.succeed("failed"))
      }
      channel.watchConnectivityState(state, deadlineMs, (error) => (error ? resume(Effect.succeed("timeout")) : check()))
    }
    check()
  })

/** Completes when the channel leaves READY (connection lost, or closed by us). */
const awaitNotReady = (client: grpc.Client): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const channel = client.getChannel()
    const check = (): void => {
      const state = channel.getConnectivityState(false)
      if (state !== grpc.connectivityState.READY) return resume(Effect.void)
      try {
        channel.watchConnectivityState(state, Infinity, check)
      } catch {
        resume(Effect.void) // the channel was shut down meanwhile
      }
    }
    check()
  })

/** Makes the outbound side; closing the scope closes every channel (peers get `Shutdown`). */
export const makeOutbound = (options: {
  readonly localPeerId: PeerId
  readonly security: ClientSecurity
  readonly events: PubSub.PubSub<PeerEvent>
}): Effect.Effect<Outbound, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { security, events } = options
    const connections = yield* Ref.make(HashMap.empty<PeerId, OutboundConnection>())
    const pending = yield* Ref.make(HashMap.empty<PeerId, Deferred.Deferred<void, DialError>>())
    const watchers = yield* FiberSet.make<void>()

    const channelOptions: grpc.ChannelOptions = {
      // Responses may be 4 MiB; requests are capped by the server's transport at MAX_REQUEST_BYTES.
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_REQUEST_BYTES,
      "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
      "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
      "grpc.keepalive_permit_without_calls": 1,
      // Our own pool: a hang-up must really close this node's connection, never one shared with
      // another channel of the process (several nodes run in one process in tests and the devnet).
      "grpc.use_local_subchannel_pool": 1,
      // Retries are the caller's policy (another peer, backoff), not the transport's.
      "grpc.enable_retries": 0,
      "grpc.client_idle_timeout_ms": CLIENT_IDLE_TIMEOUT_MS,
      "grpc-node.flow_control_window": FLOW_CONTROL_WINDOW_BYTES,
      "grpc.primary_user_agent": "soma-p2p",
      ...(security.mode === "tls" ? { "grpc.ssl_target_name_override": CERTIFICATE_HOSTNAME } : {})
    }

    /** Removes `connection` if it is still the registered one, closes it and reports it. */
    const drop = (connection: OutboundConnection, reason: DisconnectReason) =>
      Ref.modify(connections, (current) =>
        Option.exists(HashMap.get(current, connection.peerId), (registered) => registered === connection)
          ? [true, HashMap.remove(current, connection.peerId)]
          : [false, current]
      ).pipe(
        Effect.tap(() => Effect.sync(() => connection.close(reason))),
        Effect.flatMap((removed) =>
          removed ? PubSub.publish(events, PeerEvent.PeerDisconnected({ peerId: connection.peerId, reason })) : Effect.void
        ),
        Effect.asVoid
      )

    const credentialsFor = (peerId: PeerId, onPinFailure: (detail: string) => void): grpc.ChannelCredentials =>
      security.mode === "tls"
        ? grpc.credentials.createSsl(
            Buffer.from(WELL_KNOWN_CA_PEM),
            Buffer.from(security.certificate.privateKeyPem),
            Buffer.from(security.certificate.certificatePem),
            {
              // Called by Node after the chain check, on every handshake: the pin is the key itself.
              checkServerIdentity: (_host, certificate) => {
                const presented = peerIdOfCertificate(certificate.raw)
                if (presented === peerId) return undefined
                const detail = `the server's key is ${presented ?? "not an acceptable Ed25519 key"}`
                onPinFailure(detail)
                return new Error(detail)
              }
            }
          )
        : grpc.credentials.createInsecure()

    const connect = (peerId: PeerId, address: string): Effect.Effect<OutboundConnection, DialError> =>
      Effect.gen(function* () {
        let pinFailure: string | undefined
        const client = yield* Effect.try({
          try: () => new grpc.Client(address, credentialsFor(peerId, (detail) => (pinFailure = detail)), channelOptions),
          catch: (error) => new PeerUnavailable({ peerId, reason: "Unreachable", detail: `bad address ${address}: ${String(error)}` })
        })
        const now = yield* Clock.currentTimeMillis
        const outcome = yield* awaitReady(client, now + CONNECT_TIMEOUT_MS).pipe(Effect.onInterrupt(() => Effect.sync(() => client.close())))
        if (outcome !== "ready") {
          client.close()
          return yield* pinFailure !== undefined
            ? Effect.fail(new PeerAuthenticationFailed({ peerId, address, detail: pinFailure }))
            : Effect.fail(
                new PeerUnavailable({
                  peerId,
                  reason: "Unreachable",
                  detail: outcome === "timeout" ? `no connection to ${address} within ${CONNECT_TIMEOUT_MS} ms` : `cannot connect to ${address}`
                })
              )
        }
        const tokens =
          security.mode === "plaintext" ? new CallerTokenSource(security.signer, peerId) : undefined
        return new OutboundConnection(peerId, address, client, tokens)
      })

    const register = (connection: OutboundConnection) =>
      Ref.update(connections, HashMap.set(connection.peerId, connection)).pipe(
        Effect.zipRight(PubSub.publish(events, PeerEvent.PeerConnected({ peerId: connection.peerId, address: connection.address }))),
        Effect.zipRight(FiberSet.run(watchers, Effect.flatMap(awaitNotReady(connection.client), () => drop(connection, "ConnectionLost"))))
      )

    const dial = (peerId: PeerId, address: string): Effect.Effect<void, DialError> =>
      Effect.gen(function* () {
        if (peerId === options.localPeerId) {
          return yield* Effect.fail(new PeerUnavailable({ peerId, reason: "Unreachable", detail: "cannot dial the local node" }))
        }
        if (HashMap.has(yield* Ref.get(connections), peerId)) return
        const mine = yield* Deferred.make<void, DialError>()
        const [owner, attempt] = yield* Ref.modify(
          pending,
          (current): readonly [readonly [boolean, Deferred.Deferred<void, DialError>], HashMap.HashMap<PeerId, Deferred.Deferred<void, DialError>>] =>
            Option.match(HashMap.get(current, peerId), {
              onSome: (other) => [[false, other], current],
              onNone: () => [[true, mine], HashMap.set(current, peerId, mine)]
            })
        )
        if (!owner) return yield* Deferred.await(attempt)
        const run = Effect.gen(function* () {
          if (HashMap.has(yield* Ref.get(connections), peerId)) return
          yield* Effect.flatMap(connect(peerId, address), register)
        })
        yield* run.pipe(
          Effect.onExit((exit) =>
            Deferred.done(mine, exit).pipe(Effect.zipRight(Ref.update(pending, HashMap.remove(peerId))))
          )
        )
      })

    const hangUp = (peerId: PeerId) =>
      Effect.flatMap(Ref.get(connections), (current) =>
        Option.match(HashMap.get(current, peerId), { onNone: () => Effect.void, onSome: (connection) => drop(connection, "HangUp") })
      )

    const connectionOf = (peerId: PeerId) =>
      Effect.flatMap(Ref.get(connections), (current) =>
        Option.match(HashMap.get(current, peerId), {
          onNone: () => Effect.fail(new PeerUnavailable({ peerId, reason: "NotConnected", detail: "no connection to this peer" })),
          onSome: Effect.succeed
        })
      )

    /**
     * Encodes the request, checks its size (against the server's transport cap, so a request that
     * would be refused fails here as `RequestTooLarge` instead), and computes the call's deadline.
     */
    const prepare = <Req>(peerId: PeerId, method: { readonly path: string; readonly request: { readonly encode: (r: Req) => Uint8Array } }, request: Req, callOptions: CallOptions) =>
      Effect.gen(function* () {
        const connection = yield* connectionOf(peerId)
        const bytes = method.request.encode(request)
        if (bytes.length > MAX_REQUEST_BYTES) {
          return yield* Effect.fail(new RequestTooLarge({ peerId, path: method.path, bytes: bytes.length, limit: MAX_REQUEST_BYTES }))
        }
        const now = yield* Clock.currentTimeMillis
        const timeoutMs = Duration.toMillis(callOptions.timeout)
        return { connection, bytes: toBuffer(bytes), timeoutMs, deadline: now + timeoutMs, metadata: connection.metadata(now) }
      })

    const decodeResponse = <Res>(peerId: PeerId, method: { readonly path: string; readonly response: { readonly decode: (b: Uint8Array) => Either.Either<Res, string> } }) =>
      (bytes: Buffer): Effect.Effect<Res, ProtocolViolation> =>
        Either.match(method.response.decode(toUint8Array(bytes)), {
          onLeft: (detail) => Effect.fail(new ProtocolViolation({ peerId, path: method.path, reason: "UndecodableResponse", detail })),
          onRight: Effect.succeed
        })

    const call = <Req, Res>(peerId: PeerId, method: UnaryMethod<Req, Res>, request: Req, callOptions: CallOptions) =>
      Effect.gen(function* () {
        const { connection, bytes, timeoutMs, deadline, metadata } = yield* prepare(peerId, method, request, callOptions)
        const response = yield* Effect.async<Buffer, CallError>((resume) => {
          const pendingCall = connection.client.makeUnaryRequest(method.path, identity, identity, bytes, metadata, { deadline }, (error, value) => {
            connection.untrack(pendingCall)
            if (error || value === undefined) {
              resume(Effect.fail(callErrorOfStatus(error, { peerId, path: method.path, timeoutMs, closedReason: connection.closedReason })))
            } else {
              resume(Effect.succeed(value))
            }
          })
          connection.track(pendingCall)
          return Effect.sync(() => pendingCall.cancel())
        })
        return yield* decodeResponse(peerId, method)(response)
      })

    const callStream = <Req, Res>(peerId: PeerId, method: ServerStreamMethod<Req, Res>, request: Req, callOptions: CallOptions) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const { connection, bytes, timeoutMs, deadline, metadata } = yield* prepare(peerId, method, request, callOptions)
          const responses = yield* Effect.acquireRelease(
            Effect.sync(() => {
              const stream = connection.client.makeServerStreamRequest(method.path, identity, identity, bytes, metadata, { deadline })
              connection.track(stream)
              return stream
            }),
            (stream) =>
              Effect.sync(() => {
                connection.untrack(stream)
                stream.cancel() // no-op when the call already ended
              })
          )
          return Stream.fromAsyncIterable(cancelOnReturn(responses), (error) =>
            callErrorOfStatus(error, { peerId, path: method.path, timeoutMs, closedReason: connection.closedReason })
          ).pipe(Stream.mapEffect(decodeResponse(peerId, method)))
        })
      )

    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Ref.get(connections), (current) => Effect.forEach(HashMap.values(current), (connection) => drop(connection, "Shutdown"), { discard: true })).pipe(
        warnIfSlow("shutdown: closing outbound connections", SHUTDOWN_STEP_WARNING_MS)
      )
    )

    return {
      dial,
      hangUp,
      call,
      callStream,
      connectedPeers: Effect.map(Ref.get(connections), (current) => Array.from(HashMap.keys(current)).sort())
    }
  })
