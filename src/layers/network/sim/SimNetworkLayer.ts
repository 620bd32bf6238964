/**
 * `SimNetworkLayer`: the `Network` service of one node attached to a `SimNetwork` world, in memory.
 * Calls go through the same codecs, size limits, router and concurrency limit as gRPC; only the
 * transport is simulated (delays, loss, partitions, broken connections from the world). The caller
 * PeerId a handler sees is the PeerId the calling node attached with.
 */
import { Deferred, Duration, Effect, Either, Layer, Option, PubSub, Stream, type Scope } from "effect"
import type { PeerId } from "../../../domain/PeerId.js"
import {
  DeadlineExceeded,
  HandlerStatus,
  Network,
  PeerUnavailable,
  ProtocolViolation,
  RequestTooLarge,
  RpcRejected,
  type CallOptions,
  type Codec,
  type NetworkService,
  type PeerEvent,
  type ServerStreamMethod,
  type UnaryMethod
} from "../../../services/Network.js"
import { makeInboundRouter, type InboundRoute } from "../inbound.js"
import { DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES, PEER_EVENTS_CAPACITY } from "../limits.js"
import { SimNetwork, sleepUntil, type SimConnection } from "./SimNetwork.js"

/** Size charged for a status-only answer (trailers). */
const STATUS_BYTES = 64
/** Stream messages a server may have in flight ahead of the client (the HTTP/2 window, in messages). */
const STREAM_WINDOW_MESSAGES = 16

/** Configuration of one simulated node. */
export interface SimNodeConfig {
  readonly peerId: PeerId
  /** Where others dial it; default `sim://<peerId>`. */
  readonly address?: string
  /** Inbound calls one peer may have in flight; more get RESOURCE_EXHAUSTED. */
  readonly maxConcurrentCallsPerPeer?: number
}

type Answer = { readonly _tag: "Status"; readonly status: HandlerStatus } | { readonly _tag: "Message"; readonly bytes: Uint8Array }

const unimplemented = (path: string) => new HandlerStatus({ code: "UNIMPLEMENTED", detail: `the node does not serve ${path}` })

/** Builds a node in the current scope, attached to the world until the scope closes. */
export const makeSimNode = (config: SimNodeConfig): Effect.Effect<NetworkService, never, SimNetwork | Scope.Scope> =>
  Effect.gen(function* () {
    const world = yield* SimNetwork
    const self = config.peerId
    const address = config.address ?? `sim://${self}`
    const events = yield* Effect.acquireRelease(PubSub.sliding<PeerEvent>(PEER_EVENTS_CAPACITY), PubSub.shutdown)
    const router = yield* makeInboundRouter({
      maxConcurrentCallsPerPeer: config.maxConcurrentCallsPerPeer ?? DEFAULT_MAX_CONCURRENT_CALLS_PER_PEER
    })
    yield* world.attach({ peerId: self, address, router, events })

    const connectionTo = (peerId: PeerId) =>
      Effect.flatMap(world.connection(self, peerId), (open) =>
        Option.match(open, {
          onNone: () => Effect.fail(new PeerUnavailable({ peerId, reason: "NotConnected", detail: "no connection to this peer" })),
          onSome: Effect.succeed
        })
      )

    const encodeRequest = <Req>(peerId: PeerId, path: string, codec: Codec<Req>, request: Req) =>
      Effect.suspend(() => {
        const bytes = codec.encode(request)
        // Requests are capped like the gRPC transport caps them; responses may use the full message limit.
        return bytes.length > MAX_REQUEST_BYTES
          ? Effect.fail(new RequestTooLarge({ peerId, path, bytes: bytes.length, limit: MAX_REQUEST_BYTES }))
          : Effect.succeed(bytes)
      })

    const decodeResponse = <Res>(peerId: PeerId, path: string, codec: Codec<Res>) => (bytes: Uint8Array) =>
      bytes.length > MAX_MESSAGE_BYTES
        ? Effect.fail(new ProtocolViolation({ peerId, path, reason: "OversizedMessage", detail: `${bytes.length} bytes` }))
        : Either.match(codec.decode(bytes), {
            onLeft: (detail) => Effect.fail(new ProtocolViolation({ peerId, path, reason: "UndecodableResponse", detail })),
            onRight: (value) => Effect.succeed(value)
          })

    const rejected = (peerId: PeerId, path: string, status: HandlerStatus) =>
      new RpcRejected({ peerId, path, code: status.code, detail: status.detail })

    const connectionClosed = (peerId: PeerId, connection: SimConnection) =>
      Effect.flatMap(Deferred.await(connection.closed), (reason) =>
        Effect.fail(new PeerUnavailable({ peerId, reason, detail: "the connection closed during the call" }))
      )

    /** The peer's route for `path` if it has one of that kind. */
    const routeOf = <K extends InboundRoute["kind"]>(peerId: PeerId, path: string, kind: K) =>
      Effect.gen(function* () {
        const node = yield* world.node(peerId)
        if (Option.isNone(node)) return Option.none()
        const route = yield* node.value.router.route(path)
        return Option.map(
          Option.filter(route, (r): r is Extract<InboundRoute, { kind: K }> => r.kind === kind),
          (r) => ({ node: node.value, route: r })
        )
      })

    const call = <Req, Res>(peerId: PeerId, method: UnaryMethod<Req, Res>, request: Req, options: CallOptions) =>
      Effect.gen(function* () {
        const connection = yield* connectionTo(peerId)
        const bytes = yield* encodeRequest(peerId, method.path, method.request, request)
        const timeoutMs = Duration.toMillis(options.timeout)
        const exchange = Effect.gen(function* () {
          yield* Effect.flatMap(world.send(self, peerId, method.path, bytes.length), sleepUntil)
          const found = yield* routeOf(peerId, method.path, "unary")
          const answer: Answer = yield* Option.match(found, {
            onNone: () => Effect.succeed<Answer>({ _tag: "Status", status: unimplemented(method.path) }),
            onSome: ({ node, route }) =>
              node.router.serveUnary(route, bytes, { peerId: self, path: method.path }).pipe(
                Effect.match({
                  onFailure: (status): Answer => ({ _tag: "Status", status }),
                  onSuccess: (response): Answer => ({ _tag: "Message", bytes: response })
                })
              )
          })
          const size = answer._tag === "Message" ? answer.bytes.length : STATUS_BYTES
          yield* Effect.flatMap(world.send(peerId, self, method.path, size), sleepUntil)
          return answer
        })
        const answer = yield* exchange.pipe(
          Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => new DeadlineExceeded({ peerId, path: method.path, timeoutMs }) }),
          Effect.raceFirst(connectionClosed(peerId, connection))
        )
        return yield* answer._tag === "Status"
          ? Effect.fail(rejected(peerId, method.path, answer.status))
          : decodeResponse(peerId, method.path, method.response)(answer.bytes)
      })

    const callStream = <Req, Res>(peerId: PeerId, method: ServerStreamMethod<Req, Res>, request: Req, options: CallOptions) =>
      Stream.unwrap(
        Effect.gen(function* () {
          const connection = yield* connectionTo(peerId)
          const bytes = yield* encodeRequest(peerId, method.path, method.request, request)
          const timeoutMs = Duration.toMillis(options.timeout)
          const fault = (yield* world.peerConditions(peerId)).disconnectAfterStreamMessages

          // The server side: runs ahead of the client by up to the window, each message stamped with
          // its arrival time when sent.
          const served: Stream.Stream<{ readonly answer: Answer; readonly arriveAtMs: number }> = Stream.unwrap(
            Effect.gen(function* () {
              yield* Effect.flatMap(world.send(self, peerId, method.path, bytes.length), sleepUntil)
              return Option.match(yield* routeOf(peerId, method.path, "serverStream"), {
                onNone: () => Stream.fail(unimplemented(method.path)),
                onSome: ({ node, route }) => node.router.serveServerStream(route, bytes, { peerId: self, path: method.path })
              })
            })
          ).pipe(
            Stream.mapEffect((message) =>
              Effect.map(world.send(peerId, self, method.path, message.length), (arriveAtMs) => ({
                answer: { _tag: "Message", bytes: message } as Answer,
                arriveAtMs
              }))
            ),
            Stream.catchAll((status) =>
              Stream.fromEffect(
                Effect.map(world.send(peerId, self, method.path, STATUS_BYTES), (arriveAtMs) => ({ answer: { _tag: "Status", status } as Answer, arriveAtMs }))
              )
            ),
            Stream.buffer({ capacity: STREAM_WINDOW_MESSAGES })
          )

          // The client side: takes each message when it arrives.
          let delivered = 0
          const received = served.pipe(
            Stream.mapEffect(({ answer, arriveAtMs }) =>
              Effect.gen(function* () {
                yield* sleepUntil(arriveAtMs)
                if (answer._tag === "Status") return yield* Effect.fail(rejected(peerId, method.path, answer.status))
                // A faulty peer breaks the connection once it has delivered its quota of this stream.
                if (fault !== undefined && delivered >= fault) {
                  yield* world.disconnect(connection, "ConnectionLost")
                  return yield* Effect.fail(new PeerUnavailable({ peerId, reason: "ConnectionLost", detail: "the peer broke the connection mid-stream" }))
                }
                delivered += 1
                return answer.bytes
              })
            ),
            Stream.mapEffect(decodeResponse(peerId, method.path, method.response))
          )
          return received.pipe(
            Stream.interruptWhen(connectionClosed(peerId, connection)),
            Stream.interruptWhen(
              Effect.zipRight(Effect.sleep(Duration.millis(timeoutMs)), Effect.fail(new DeadlineExceeded({ peerId, path: method.path, timeoutMs })))
            )
          )
        })
      )

    /** Closes the connection `from` dialled to `to`, if open. */
    const closeConnection = (from: PeerId, to: PeerId) =>
      Effect.flatMap(world.connection(from, to), (open) =>
        Option.match(open, { onNone: () => Effect.void, onSome: (connection) => world.disconnect(connection, "HangUp") })
      )

    return {
      localPeerId: self,
      listenAddress: address,
      dial: (peerId, dialAddress) =>
        peerId === self
          ? Effect.fail(new PeerUnavailable({ peerId, reason: "Unreachable", detail: "cannot dial the local node" }))
          : Effect.asVoid(world.connect(self, peerId, dialAddress)),
      hangUp: (peerId) => closeConnection(self, peerId),
      cutOff: (peerId) => Effect.zipRight(closeConnection(self, peerId), closeConnection(peerId, self)),
      call,
      callStream,
      handleUnary: (method, handler) => Effect.asVoid(router.addUnary(method, handler)),
      handleServerStream: (method, handler) => Effect.asVoid(router.addServerStream(method, handler)),
      peerEvents: Stream.fromPubSub(events, { scoped: true }),
      connectedPeers: world.connectedFrom(self)
    } satisfies NetworkService
  })

/** The `Network` service of one simulated node; needs the `SimNetwork` world. */
export const SimNetworkLayer = (config: SimNodeConfig): Layer.Layer<Network, never, SimNetwork> => Layer.scoped(Network, makeSimNode(config))
