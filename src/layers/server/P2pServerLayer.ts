/**
 * `P2pServerLayer`: the `P2pServer` service over the `Network` in context, and that `Network` again
 * with the six `soma.p2p.v1.P2p` routes handed to the service — so whoever registers a P2P handler
 * through the node's `Network` (state sync, discovery) gets the policy, and there is no way around it
 * in a node built by `P2pBuilder`. The server registers each route on the inner network as raw bytes
 * and serves a call in this order:
 *
 * 0. a caller the peer ledger has banned is refused → PERMISSION_DENIED (`callerLedger.ts`);
 * 1. rate: the caller's token bucket charged `1 + bytes / 5,000` (refusals are paid for) → RESOURCE_EXHAUSTED;
 * 2. the route's receive limit, then its pre-scan of counts and lengths (`admission.ts`) → RESOURCE_EXHAUSTED / INVALID_ARGUMENT;
 * 3. the route's in-flight limits, per caller and in all (`inFlight.ts`) → RESOURCE_EXHAUSTED;
 * 4. decoding, then validation with Schema (`requests.ts`) → INVALID_ARGUMENT; a refusal in 2 or 4 is
 *    reported to the peer ledger (no honest node sends it), so a garbage flood soon costs one lookup a call;
 * 5. the handler within its deadlines (`deadlines.ts`); a stream is also cut when its reader stops
 *    reading (`progress.ts`);
 * 6. response limits (`responses.ts`): ≤ 200 peers, ≤ 100 commits, FetchBlocks messages ≤ 4 MiB,
 *    ≤ the blocks asked for and ≤ 32 MiB per answer → cut or INTERNAL, logged.
 *
 * Other routes, outbound calls and peer events pass through unchanged. The per-peer limit on all
 * calls and the transport's size limits stay in the network layer, below this one.
 */
import { Context, Effect, Either, Layer, Option, Stream, type Scope } from "effect"
import { shortPeerId } from "../../domain/PeerId.js"
import { rawBytesCodec } from "../../proto/codec.js"
import { HandlerStatus, Network, type InboundContext, type NetworkService, type ServerStreamHandler, type UnaryHandler } from "../../services/Network.js"
import { P2pServer, type P2pRoute, type P2pServerService } from "../../services/P2pServer.js"
import { PeerManager } from "../../services/PeerManager.js"
import { chargeCaller, checkBytes, decodeChecked } from "./admission.js"
import { callerLedgerOf, noCallerLedger, type CallerLedger } from "./callerLedger.js"
import { InvalidP2pServerConfig, resolveP2pServerConfig, type P2pServerConfig } from "./config.js"
import { streamWithDeadlines, unaryWithDeadline } from "./deadlines.js"
import { makeRouteSlots } from "./inFlight.js"
import { cutWhenUnread } from "./progress.js"
import { makeRateLimiter, type RateLimiter } from "./rateLimit.js"
import { limitStreamMessage, limitUnaryResponse, streamBudgetOf } from "./responses.js"
import { routeOfPath } from "./routes.js"

type AnyRoute<Req, Res> = P2pRoute<"unary" | "serverStream", Req, Res>

/** Steps 1–3 on the bytes of a call, then its slot (held until the scope closes), then step 4. */
const admit = <Req, Res>(
  route: AnyRoute<Req, Res>,
  limiter: RateLimiter,
  ledger: CallerLedger,
  config: P2pServerConfig,
  acquireSlot: (context: InboundContext) => Effect.Effect<void, HandlerStatus, Scope.Scope>,
  bytes: Uint8Array,
  context: InboundContext
) =>
  // Each step is suspended: nothing of a later step may run (the decoder least of all) before the
  // earlier ones have passed.
  refuseBanned(ledger, context).pipe(
    Effect.zipRight(chargeCaller(limiter, config, bytes, context)),
    Effect.zipRight(Effect.suspend(() => Option.match(checkBytes(route, bytes), { onNone: () => Effect.void, onSome: (status) => reported(ledger, context, status) }))),
    Effect.zipRight(Effect.suspend(() => acquireSlot(context))),
    Effect.zipRight(Effect.suspend(() => decodeChecked(route, bytes).pipe(Effect.catchAll((status) => reported(ledger, context, status)))))
  )

/** Step 0: a banned caller is refused before it costs anything more than this lookup. */
const refuseBanned = (ledger: CallerLedger, context: InboundContext): Effect.Effect<void, HandlerStatus> =>
  Effect.flatMap(ledger.isBanned(context.peerId), (banned) =>
    banned ? Effect.fail(new HandlerStatus({ code: "PERMISSION_DENIED", detail: "this peer is banned" })) : Effect.void
  )

/** Fails with `status` after reporting the caller to the ledger: no honest node sends such a request. */
const reported = (ledger: CallerLedger, context: InboundContext, status: HandlerStatus): Effect.Effect<never, HandlerStatus> =>
  Effect.zipRight(ledger.reportInvalidRequest(context.peerId, `${context.path}: ${status.detail}`), Effect.fail(status))

/** The server over `inner`; the rate limiter is shared by every route of the node. */
export const makeP2pServerService = (
  inner: NetworkService,
  limiter: RateLimiter,
  config: P2pServerConfig,
  ledger: CallerLedger = noCallerLedger
): P2pServerService => ({
  serveUnary: <Req, Res>(route: P2pRoute<"unary", Req, Res>, handler: UnaryHandler<Req, Res>) =>
    Effect.gen(function* () {
      const slots = yield* makeRouteSlots(route.method.method, route.policy.maxInFlightPerPeer, route.policy.maxInFlight)
      yield* inner.handleUnary({ ...route.method, request: rawBytesCodec }, (bytes, context) =>
        Effect.scoped(
          admit(route, limiter, ledger, config, (c) => slots.acquire(c.peerId), bytes, context).pipe(
            Effect.flatMap((request) => unaryWithDeadline(Effect.suspend(() => handler(request, context)), context, config.handlerTimeoutMs)),
            Effect.flatMap((response) => limitUnaryResponse(response, context))
          )
        )
      )
    }),
  serveStream: <Req, Res>(route: P2pRoute<"serverStream", Req, Res>, handler: ServerStreamHandler<Req, Res>) =>
    Effect.gen(function* () {
      const slots = yield* makeRouteSlots(route.method.method, route.policy.maxInFlightPerPeer, route.policy.maxInFlight)
      yield* inner.handleServerStream({ ...route.method, request: rawBytesCodec }, (bytes, context) => {
        const unread = Effect.logWarning(`P2P server: ${context.path} cut off: its reader took no message for ${config.noProgressTimeoutMs} ms`).pipe(
          Effect.annotateLogs({ peer: shortPeerId(context.peerId) })
        )
        const served = Stream.unwrapScoped(
          Effect.map(admit(route, limiter, ledger, config, (c) => slots.acquire(c.peerId), bytes, context), (request) =>
            streamWithDeadlines(Stream.suspend(() => handler(request, context)), context, config).pipe(
              Stream.mapAccumEffect(streamBudgetOf(request), (budget, message) => limitStreamMessage(budget, message, context))
            )
          )
        )
        return cutWhenUnread(served, config.noProgressTimeoutMs, unread)
      })
    })
})

/**
 * `inner` with its `handleUnary`/`handleServerStream` handing the six P2P routes to `server` (with the
 * caller's codecs and the route's policy); other routes go to `inner` unchanged.
 */
export const guardNetwork = (inner: NetworkService, server: P2pServerService): NetworkService => ({
  ...inner,
  handleUnary: (method, handler) => {
    const route = routeOfPath.get(method.path)
    if (route === undefined) return inner.handleUnary(method, handler)
    if (route.method.kind !== "unary") return Effect.dieMessage(`${method.path} is a server-streaming route`)
    return server.serveUnary({ method, policy: route.policy }, handler)
  },
  handleServerStream: (method, handler) => {
    const route = routeOfPath.get(method.path)
    if (route === undefined) return inner.handleServerStream(method, handler)
    if (route.method.kind !== "serverStream") return Effect.dieMessage(`${method.path} is a unary route`)
    return server.serveStream({ method, policy: route.policy }, handler)
  }
})

/** The server and the guarded `Network` over the `Network` in context, with `overrides` of the default limits. */
export const makeP2pServerParts = (
  overrides: Partial<P2pServerConfig> = {}
): Effect.Effect<{ readonly server: P2pServerService; readonly network: NetworkService }, InvalidP2pServerConfig, Network> =>
  Effect.gen(function* () {
    const config = yield* Either.match(resolveP2pServerConfig(overrides), { onLeft: Effect.fail, onRight: Effect.succeed })
    const inner = yield* Network
    const limiter = yield* makeRateLimiter(config)
    // The node's peer ledger when there is one (P2pBuilder provides it): banned callers are refused first.
    const ledger = Option.match(yield* Effect.serviceOption(PeerManager), { onNone: () => noCallerLedger, onSome: callerLedgerOf })
    const server = makeP2pServerService(inner, limiter, config, ledger)
    return { server, network: guardNetwork(inner, server) }
  })

/** The guarded `Network` of the `Network` in context (the server behind it). */
export const makeP2pServer = (overrides: Partial<P2pServerConfig> = {}): Effect.Effect<NetworkService, InvalidP2pServerConfig, Network> =>
  Effect.map(makeP2pServerParts(overrides), (parts) => parts.network)

/** Provides `P2pServer` and the `Network` it needs again, with the six P2P routes served through it. */
export const P2pServerLayer = (overrides: Partial<P2pServerConfig> = {}): Layer.Layer<Network | P2pServer, InvalidP2pServerConfig, Network> =>
  Layer.effectContext(
    Effect.map(makeP2pServerParts(overrides), ({ network, server }) => Context.make(Network, network).pipe(Context.add(P2pServer, server)))
  )
