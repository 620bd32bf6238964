/**
 * The inbound side shared by both `Network` layers: the routes registered by handlers, and what
 * happens to the bytes of one inbound call — per-peer concurrency limit, decode (garbage →
 * INVALID_ARGUMENT), the handler, encode and size check. A defect anywhere in there is logged and
 * answered with INTERNAL; it never escapes to the transport. Transports only authenticate the caller
 * and move bytes, so gRPC and the simulation answer bad input identically. The six P2P routes are
 * registered here by the P2P server with an identity request codec (`rawBytesCodec`): it admits and
 * checks their bytes before it decodes them itself (`layers/server/admission.ts`).
 */
import { Cause, Effect, Either, HashMap, Option, Ref, Stream, type Scope } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import {
  HandlerStatus,
  type InboundContext,
  type ServerStreamHandler,
  type ServerStreamMethod,
  type UnaryHandler,
  type UnaryMethod
} from "../../services/Network.js"
import { MAX_MESSAGE_BYTES } from "./limits.js"

/** A registered route, working on bytes. */
export type InboundRoute =
  | { readonly kind: "unary"; readonly run: (bytes: Uint8Array, context: InboundContext) => Effect.Effect<Uint8Array, HandlerStatus> }
  | { readonly kind: "serverStream"; readonly run: (bytes: Uint8Array, context: InboundContext) => Stream.Stream<Uint8Array, HandlerStatus> }

/** The registered routes and the per-peer concurrency limit of one node. */
export interface InboundRouter {
  /** Adds a unary route until the scope closes (a transport mirrors it with the returned route). */
  readonly addUnary: <Req, Res>(method: UnaryMethod<Req, Res>, handler: UnaryHandler<Req, Res>) => Effect.Effect<InboundRoute, never, Scope.Scope>
  /** Adds a server-streaming route until the scope closes. */
  readonly addServerStream: <Req, Res>(
    method: ServerStreamMethod<Req, Res>,
    handler: ServerStreamHandler<Req, Res>
  ) => Effect.Effect<InboundRoute, never, Scope.Scope>
  /** The route of a path, if one is registered. */
  readonly route: (path: string) => Effect.Effect<Option.Option<InboundRoute>>
  /** Serves one unary call from an authenticated caller. */
  readonly serveUnary: (route: InboundRoute & { kind: "unary" }, bytes: Uint8Array, context: InboundContext) => Effect.Effect<Uint8Array, HandlerStatus>
  /** Serves one server-streaming call from an authenticated caller. */
  readonly serveServerStream: (
    route: InboundRoute & { kind: "serverStream" },
    bytes: Uint8Array,
    context: InboundContext
  ) => Stream.Stream<Uint8Array, HandlerStatus>
}

/** Pure: take a call slot of `peerId` if it has fewer than `limit` in flight. */
export const takeCallSlot = (
  inFlight: HashMap.HashMap<PeerId, number>,
  peerId: PeerId,
  limit: number
): readonly [boolean, HashMap.HashMap<PeerId, number>] => {
  const current = Option.getOrElse(HashMap.get(inFlight, peerId), () => 0)
  return current >= limit ? [false, inFlight] : [true, HashMap.set(inFlight, peerId, current + 1)]
}

/** Pure: give back a call slot of `peerId`. */
export const releaseCallSlot = (inFlight: HashMap.HashMap<PeerId, number>, peerId: PeerId): HashMap.HashMap<PeerId, number> => {
  const current = Option.getOrElse(HashMap.get(inFlight, peerId), () => 0)
  return current <= 1 ? HashMap.remove(inFlight, peerId) : HashMap.set(inFlight, peerId, current - 1)
}

const decodeRequest = <Req>(
  method: { readonly request: { readonly decode: (b: Uint8Array) => Either.Either<Req, string> }; readonly path: string },
  bytes: Uint8Array
): Effect.Effect<Req, HandlerStatus> =>
  Either.match(method.request.decode(bytes), {
    onLeft: (reason) => Effect.fail(HandlerStatus.invalidArgument(`${method.path}: ${reason}`)),
    onRight: (request) => Effect.succeed(request)
  })

const encodeResponse = <Res>(encode: (value: Res) => Uint8Array, path: string) => (value: Res) =>
  Effect.suspend(() => {
    const bytes = encode(value)
    return bytes.length > MAX_MESSAGE_BYTES
      ? Effect.fail(new HandlerStatus({ code: "INTERNAL", detail: `${path}: response of ${bytes.length} bytes exceeds ${MAX_MESSAGE_BYTES}` }))
      : Effect.succeed(bytes)
  })

const internal = (path: string, cause: Cause.Cause<unknown>) =>
  Effect.logError(`inbound ${path}: handler defect`, cause).pipe(
    Effect.as(new HandlerStatus({ code: "INTERNAL", detail: `${path}: internal error` }))
  )

/** Makes the router of one node. */
export const makeInboundRouter = (options: { readonly maxConcurrentCallsPerPeer: number }): Effect.Effect<InboundRouter> =>
  Effect.gen(function* () {
    const routes = yield* Ref.make<ReadonlyMap<string, InboundRoute>>(new Map())
    const inFlight = yield* Ref.make(HashMap.empty<PeerId, number>())

    const add = (path: string, route: InboundRoute) =>
      Effect.acquireRelease(
        Ref.modify(routes, (current) => (current.has(path) ? [false, current] : [true, new Map(current).set(path, route)])).pipe(
          Effect.flatMap((added) => (added ? Effect.succeed(route) : Effect.dieMessage(`a handler for ${path} is already registered`)))
        ),
        () =>
          Ref.update(routes, (current) => {
            const next = new Map(current)
            next.delete(path)
            return next
          })
      )

    const takeSlot = (context: InboundContext) =>
      Ref.modify(inFlight, (current) => takeCallSlot(current, context.peerId, options.maxConcurrentCallsPerPeer)).pipe(
        Effect.flatMap((taken) =>
          taken
            ? Effect.void
            : Effect.fail(
                HandlerStatus.resourceExhausted(`more than ${options.maxConcurrentCallsPerPeer} concurrent calls from this peer`)
              )
        )
      )
    const releaseSlot = (context: InboundContext) => Ref.update(inFlight, (current) => releaseCallSlot(current, context.peerId))

    const addUnary = <Req, Res>(method: UnaryMethod<Req, Res>, handler: UnaryHandler<Req, Res>) =>
      add(method.path, {
        kind: "unary",
        run: (bytes, context) =>
          decodeRequest(method, bytes).pipe(
            Effect.flatMap((request) => Effect.suspend(() => handler(request, context))),
            Effect.flatMap(encodeResponse(method.response.encode, method.path)),
            Effect.catchAllDefect((defect) => Effect.flatMap(internal(method.path, Cause.die(defect)), Effect.fail))
          )
      })

    const addServerStream = <Req, Res>(method: ServerStreamMethod<Req, Res>, handler: ServerStreamHandler<Req, Res>) =>
      add(method.path, {
        kind: "serverStream",
        run: (bytes, context) =>
          Stream.fromEffect(decodeRequest(method, bytes)).pipe(
            Stream.flatMap((request) => Stream.suspend(() => handler(request, context))),
            Stream.mapEffect(encodeResponse(method.response.encode, method.path)),
            Stream.catchAllCause((cause) =>
              Cause.isInterruptedOnly(cause)
                ? Stream.failCause(cause)
                : Option.match(Cause.failureOption(cause), {
                    onSome: (status) => Stream.fail(status),
                    onNone: () => Stream.fromEffect(Effect.flatMap(internal(method.path, cause), Effect.fail))
                  })
            )
          )
      })

    return {
      addUnary,
      addServerStream,
      route: (path) => Effect.map(Ref.get(routes), (current) => Option.fromNullable(current.get(path))),
      serveUnary: (route, bytes, context) =>
        Effect.acquireUseRelease(
          takeSlot(context),
          () => route.run(bytes, context),
          () => releaseSlot(context)
        ),
      serveServerStream: (route, bytes, context) =>
        Stream.unwrapScoped(
          Effect.acquireRelease(takeSlot(context), () => releaseSlot(context)).pipe(Effect.as(route.run(bytes, context)))
        )
    }
  })
