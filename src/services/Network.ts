/**
 * The `Network` service: authenticated connections to peers, typed unary and server-streaming calls
 * with a deadline on every call, inbound handlers that learn the caller's authenticated PeerId, and a
 * stream of peer events. Two layers implement it — `GrpcNetworkLayer` (gRPC over mutual TLS on
 * `@grpc/grpc-js`) and `SimNetworkLayer` (in memory, deterministic under `TestClock` and a seed) — and
 * a program never knows which one it runs on.
 *
 * Methods are described by descriptors (route, kind, request and response codecs), so one interface
 * carries the six RPCs of `soma.p2p.v1.P2p` (see `src/proto/P2pMethods.ts`) and tests can define their
 * own (descriptors and codecs live in `src/proto/codec.ts`). Messages always cross the wire as encoded
 * bytes, in both layers, so size limits and decode errors behave the same everywhere. In a node, the
 * six P2P routes are served through the `P2pServer` (`services/P2pServer.ts`), which `P2pServerLayer`
 * puts behind this service's `handleUnary`/`handleServerStream`.
 */
import { Context, Data, type Duration, type Effect, type Scope, type Stream } from "effect"
import type { PeerId } from "../domain/PeerId.js"
import type { ServerStreamMethod, UnaryMethod } from "../proto/codec.js"

// ---------------------------------------------------------------------------------------------------
// Status codes

/** gRPC status codes, by name, with their wire numbers. */
export const StatusCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16
} as const

/** The name of a gRPC status code. */
export type StatusCodeName = keyof typeof StatusCode

/** The name of a wire status number (`UNKNOWN` for numbers outside the gRPC range). */
export const statusCodeName = (code: number): StatusCodeName =>
  (Object.keys(StatusCode) as Array<StatusCodeName>).find((name) => StatusCode[name] === code) ?? "UNKNOWN"

// ---------------------------------------------------------------------------------------------------
// Codecs and method descriptors (defined in `src/proto/codec.ts`; re-exported for existing importers)

export {
  checkedCodec,
  protoCodec,
  rawBytesCodec,
  serverStreamMethod,
  unaryMethod,
  type Codec,
  type MethodDescriptor,
  type ProtoMessageFns,
  type ServerStreamMethod,
  type UnaryMethod
} from "../proto/codec.js"

// ---------------------------------------------------------------------------------------------------
// Errors of outbound calls and dials

/** Why a peer cannot be reached or a call to it ended without an answer. */
export type UnavailableReason =
  | "NotConnected" // no connection to this peer (dial first)
  | "Unreachable" // a dial found nobody answering at the address in time
  | "ConnectionLost" // the connection broke (peer gone, network failure, partition)
  | "HangUp" // we hung up the connection
  | "Shutdown" // our network layer is shutting down

/** The peer is not connected or could not be reached; the call had no answer. */
export class PeerUnavailable extends Data.TaggedError("PeerUnavailable")<{
  readonly peerId: PeerId
  readonly reason: UnavailableReason
  readonly detail: string
}> {
  override get message(): string {
    return `peer ${this.peerId.slice(0, 8)} unavailable: ${this.reason} (${this.detail})`
  }
}

/** The node at the dialled address is not the PeerId we dialled (or could not prove its key). */
export class PeerAuthenticationFailed extends Data.TaggedError("PeerAuthenticationFailed")<{
  readonly peerId: PeerId
  readonly address: string
  readonly detail: string
}> {
  override get message(): string {
    return `dial ${this.peerId.slice(0, 8)} at ${this.address}: authentication failed (${this.detail})`
  }
}

/** The call's deadline passed before it completed. */
export class DeadlineExceeded extends Data.TaggedError("DeadlineExceeded")<{
  readonly peerId: PeerId
  readonly path: string
  readonly timeoutMs: number
}> {
  override get message(): string {
    return `${this.path} to ${this.peerId.slice(0, 8)}: deadline of ${this.timeoutMs} ms exceeded`
  }
}

/** The peer answered with a non-OK gRPC status. */
export class RpcRejected extends Data.TaggedError("RpcRejected")<{
  readonly peerId: PeerId
  readonly path: string
  readonly code: StatusCodeName
  readonly detail: string
}> {
  override get message(): string {
    return `${this.path} to ${this.peerId.slice(0, 8)}: ${this.code} (${this.detail})`
  }
}

/** What a peer sent broke the protocol. */
export type ProtocolViolationReason =
  | "UndecodableResponse" // response bytes are not a valid message of the method's response type
  | "OversizedMessage" // a message above the 4 MiB limit

/** The peer broke the wire protocol; counts against the peer. */
export class ProtocolViolation extends Data.TaggedError("ProtocolViolation")<{
  readonly peerId: PeerId
  readonly path: string
  readonly reason: ProtocolViolationReason
  readonly detail: string
}> {
  override get message(): string {
    return `${this.path} from ${this.peerId.slice(0, 8)}: ${this.reason} (${this.detail})`
  }
}

/** Our own request encodes to more than the message size limit; it was not sent. */
export class RequestTooLarge extends Data.TaggedError("RequestTooLarge")<{
  readonly peerId: PeerId
  readonly path: string
  readonly bytes: number
  readonly limit: number
}> {
  override get message(): string {
    return `${this.path} to ${this.peerId.slice(0, 8)}: request of ${this.bytes} bytes exceeds ${this.limit}`
  }
}

/** The layer could not listen on its address. */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{
  readonly address: string
  readonly detail: string
}> {
  override get message(): string {
    return `cannot listen on ${this.address}: ${this.detail}`
  }
}

/** Errors of `dial`. */
export type DialError = PeerUnavailable | PeerAuthenticationFailed
/** Errors of `call` and `callStream`. */
export type CallError = PeerUnavailable | DeadlineExceeded | RpcRejected | ProtocolViolation | RequestTooLarge
/** Every error of the `Network` service and its layers. */
export type NetworkError = DialError | CallError | ListenFailed

// ---------------------------------------------------------------------------------------------------
// Inbound side

/**
 * The status an inbound handler fails with; it becomes that gRPC status on the wire. A defect in a
 * handler becomes `INTERNAL` (and is logged); it never reaches the caller's process.
 */
export class HandlerStatus extends Data.TaggedError("HandlerStatus")<{
  readonly code: Exclude<StatusCodeName, "OK">
  readonly detail: string
}> {
  override get message(): string {
    return `${this.code}: ${this.detail}`
  }
  /** Bad input from the caller. */
  static invalidArgument = (detail: string) => new HandlerStatus({ code: "INVALID_ARGUMENT", detail })
  /** Over a limit (size, rate, concurrency). */
  static resourceExhausted = (detail: string) => new HandlerStatus({ code: "RESOURCE_EXHAUSTED", detail })
  /** The node does not have what was asked for. */
  static notFound = (detail: string) => new HandlerStatus({ code: "NOT_FOUND", detail })
  /** The node cannot serve this now (not ready, shutting down). */
  static unavailable = (detail: string) => new HandlerStatus({ code: "UNAVAILABLE", detail })
}

/** What an inbound handler knows about its call. */
export interface InboundContext {
  /** The caller, authenticated by its network key. */
  readonly peerId: PeerId
  /** The route being called. */
  readonly path: string
}

/** Serves a unary method. */
export type UnaryHandler<Req, Res> = (request: Req, context: InboundContext) => Effect.Effect<Res, HandlerStatus>
/** Serves a server-streaming method. */
export type ServerStreamHandler<Req, Res> = (request: Req, context: InboundContext) => Stream.Stream<Res, HandlerStatus>

// ---------------------------------------------------------------------------------------------------
// Peer events

/** Why a connection ended. */
export type DisconnectReason = "HangUp" | "ConnectionLost" | "Shutdown"

/**
 * A change in the set of connected peers: the connections this node dialled (the ones it can call).
 * Inbound callers are identified per call (`InboundContext`) but make no events, as in Soma.
 */
export type PeerEvent = Data.TaggedEnum<{
  PeerConnected: { readonly peerId: PeerId; readonly address: string }
  PeerDisconnected: { readonly peerId: PeerId; readonly reason: DisconnectReason }
}>

/** Constructors and matchers of `PeerEvent`. */
export const PeerEvent = Data.taggedEnum<PeerEvent>()

// ---------------------------------------------------------------------------------------------------
// The service

/** Options of every outbound call. */
export interface CallOptions {
  /** The call's deadline, from now; for a stream it covers the whole stream. */
  readonly timeout: Duration.DurationInput
}

export interface NetworkService {
  /** This node's PeerId (the hex of its network public key). */
  readonly localPeerId: PeerId
  /** The address the node listens on, with the real port when it was asked to bind port 0. */
  readonly listenAddress: string
  /**
   * Opens an authenticated connection to `peerId` at `address`: the peer must prove it holds the key of
   * `peerId`. Succeeds at once when already connected; concurrent dials of one peer share one attempt.
   */
  readonly dial: (peerId: PeerId, address: string) => Effect.Effect<void, DialError>
  /** Closes the connection to `peerId` (no-op when not connected); its in-flight calls fail with `HangUp`. */
  readonly hangUp: (peerId: PeerId) => Effect.Effect<void>
  /**
   * `hangUp`, and closes the connections `peerId` opened to us and authenticated on (its calls in flight
   * on them are cut): for a peer we banned, whose calls would only be refused — each still costing us an
   * authentication and a refusal — while its connection held one of our inbound slots.
   */
  readonly cutOff: (peerId: PeerId) => Effect.Effect<void>
  /** A unary call to a connected peer. */
  readonly call: <Req, Res>(peerId: PeerId, method: UnaryMethod<Req, Res>, request: Req, options: CallOptions) => Effect.Effect<Res, CallError>
  /** A server-streaming call to a connected peer; the deadline covers the whole stream. */
  readonly callStream: <Req, Res>(
    peerId: PeerId,
    method: ServerStreamMethod<Req, Res>,
    request: Req,
    options: CallOptions
  ) => Stream.Stream<Res, CallError>
  /** Serves `method` until the scope closes. Registering a route twice is a defect. */
  readonly handleUnary: <Req, Res>(method: UnaryMethod<Req, Res>, handler: UnaryHandler<Req, Res>) => Effect.Effect<void, never, Scope.Scope>
  /** Serves a server-streaming `method` until the scope closes. Registering a route twice is a defect. */
  readonly handleServerStream: <Req, Res>(
    method: ServerStreamMethod<Req, Res>,
    handler: ServerStreamHandler<Req, Res>
  ) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Subscribes now (so no event after this point is missed) and gives the events as a stream for as
   * long as the scope lives. Events come from a bounded sliding PubSub: a subscriber that falls more
   * than `PEER_EVENTS_CAPACITY` events behind loses the oldest ones — the network never waits for a
   * slow subscriber — and can re-sync with `connectedPeers`.
   */
  readonly peerEvents: Effect.Effect<Stream.Stream<PeerEvent>, never, Scope.Scope>
  /** The peers we hold a connection to (the ones `call` can reach), sorted. */
  readonly connectedPeers: Effect.Effect<ReadonlyArray<PeerId>>
}

/** Tag of the `Network` service. */
export class Network extends Context.Tag("soma-p2p/Network")<Network, NetworkService>() {}
