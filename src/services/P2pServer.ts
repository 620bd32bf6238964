/**
 * The `P2pServer` service: the only way to serve one of the six `soma.p2p.v1.P2p` routes. Each route
 * carries its policy (receive limit, counts checked before decoding, in-flight limits), and the server
 * adds what every route shares — the caller's rate limit charged by the work asked for, deadlines,
 * response bounds — so handlers receive validated, decoded requests and cannot be registered around
 * the policy (the node's `Network`, as `P2pServerLayer` provides it, hands the six routes to this
 * service). The routes and their policies are in `src/layers/server/routes.ts`.
 */
import { Context, type Effect, type Scope } from "effect"
import type { MethodDescriptor } from "../proto/codec.js"
import type { FieldLimit } from "../proto/wireScan.js"
import type { ServerStreamHandler, UnaryHandler } from "./Network.js"

/** What a route accepts, checked on the request's bytes before it is decoded. */
export interface RoutePolicy {
  /** Largest encoded request: larger ones are charged, then refused with RESOURCE_EXHAUSTED. */
  readonly maxRequestBytes: number
  /** Counts and lengths checked on the raw bytes (over a count → RESOURCE_EXHAUSTED, bad length → INVALID_ARGUMENT). */
  readonly fields: ReadonlyArray<FieldLimit>
  /** Calls of this route one caller may have in flight. */
  readonly maxInFlightPerPeer: number
  /** Calls of this route all callers together may have in flight. */
  readonly maxInFlight: number
}

/** A P2P method and its policy: the limits travel with the route. */
export interface P2pRoute<Kind extends "unary" | "serverStream", Req, Res> {
  readonly method: MethodDescriptor<Kind, Req, Res>
  readonly policy: RoutePolicy
}

export interface P2pServerService {
  /** Serves a unary route through its policy until the scope closes. Serving a route twice is a defect. */
  readonly serveUnary: <Req, Res>(route: P2pRoute<"unary", Req, Res>, handler: UnaryHandler<Req, Res>) => Effect.Effect<void, never, Scope.Scope>
  /** Serves a server-streaming route through its policy until the scope closes. */
  readonly serveStream: <Req, Res>(
    route: P2pRoute<"serverStream", Req, Res>,
    handler: ServerStreamHandler<Req, Res>
  ) => Effect.Effect<void, never, Scope.Scope>
}

/** Tag of the `P2pServer` service. */
export class P2pServer extends Context.Tag("soma-p2p/P2pServer")<P2pServer, P2pServerService>() {}
