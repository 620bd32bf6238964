/**
 * `P2pServerLayer`: the limits of the P2P server (DESIGN.md §4), as a decorator of the `Network`
 * service. It needs a `Network` and provides a `Network` whose `handleUnary`/`handleServerStream` wrap
 * the handler of each of the six `soma.p2p.v1.P2p` routes, whoever registers it (state sync,
 * discovery), with, in order:
 *
 * 1. the caller's rate limit (token bucket per authenticated PeerId) → RESOURCE_EXHAUSTED;
 * 2. request validation with Schema → INVALID_ARGUMENT (RESOURCE_EXHAUSTED for too many FetchBlocks refs);
 * 3. a deadline on the handler's work (per unary answer, per stream message, per whole stream) → UNAVAILABLE;
 * 4. response limits (≤ 200 peers, ≤ 100 commits, FetchBlocks messages ≤ 4 MiB) → cut or INTERNAL, logged.
 *
 * Other routes, outbound calls and peer events pass through unchanged. The per-peer concurrency
 * limit, decoding and the transport's size limits stay in the network layer, below this one.
 */
import { Duration, Effect, Either, Layer, Option, Stream } from "effect"
import { shortPeerId } from "../../domain/PeerId.js"
import { HandlerStatus, Network, type InboundContext, type NetworkService } from "../../services/Network.js"
import { InvalidP2pServerConfig, resolveP2pServerConfig, type P2pServerConfig } from "./config.js"
import { makeRateLimiter, type RateLimiter } from "./rateLimit.js"
import { isGuardedPath, validateRequest } from "./requests.js"
import { limitStreamMessage, limitUnaryResponse, streamBudgetOf } from "./responses.js"

/** The server's side of one call: rate first (even a bad request costs a token), then validation. */
const admitCall = (limiter: RateLimiter, config: P2pServerConfig, request: unknown, context: InboundContext): Effect.Effect<void, HandlerStatus> =>
  Effect.flatMap(limiter.admit(context.peerId), (allowed) => {
    if (!allowed) {
      // Debug only: a flood must not become a flood of log lines.
      return Effect.zipRight(
        Effect.logDebug(`P2P server: rate limit refused ${context.path} from ${shortPeerId(context.peerId)}`),
        Effect.fail(HandlerStatus.resourceExhausted(`rate limit: more than ${config.ratePerSecond} calls/s (burst ${config.burst}) from this peer`))
      )
    }
    return Option.match(validateRequest(context.path, request), { onNone: () => Effect.void, onSome: Effect.fail })
  })

/** The status of a handler cut off by a deadline; logged, since a hang is a bug or an overload. */
const cutOff = (context: InboundContext, what: string, timeoutMs: number) => {
  const status = HandlerStatus.unavailable(`${context.path}: ${what} took longer than ${timeoutMs} ms`)
  return {
    status,
    log: Effect.logWarning(`P2P server: ${what} of ${context.path} cut off after ${timeoutMs} ms`).pipe(
      Effect.annotateLogs({ peer: shortPeerId(context.peerId) })
    )
  }
}

/** A unary handler within the deadline. */
const unaryWithDeadline = <A>(work: Effect.Effect<A, HandlerStatus>, context: InboundContext, timeoutMs: number) =>
  Effect.flatMap(
    Effect.timeoutOption(work, Duration.millis(timeoutMs)),
    Option.match({
      onSome: (value) => Effect.succeed(value),
      onNone: () => {
        const { log, status } = cutOff(context, "handler", timeoutMs)
        return Effect.zipRight(log, Effect.fail(status))
      }
    })
  )

/**
 * A stream handler within its deadlines: each message within `handlerTimeoutMs` of being pulled (only
 * the handler's time counts), the whole stream within `streamTimeoutMs` (the caller's reading counts).
 */
const streamWithDeadlines = <A>(stream: Stream.Stream<A, HandlerStatus>, context: InboundContext, config: P2pServerConfig) => {
  const slow = cutOff(context, "next message", config.handlerTimeoutMs)
  const long = cutOff(context, "stream", config.streamTimeoutMs)
  return stream.pipe(
    Stream.timeoutFail(() => slow.status, Duration.millis(config.handlerTimeoutMs)),
    Stream.tapError((status) => (status === slow.status ? slow.log : Effect.void)),
    Stream.interruptWhen(Effect.zipRight(Effect.sleep(Duration.millis(config.streamTimeoutMs)), Effect.zipRight(long.log, Effect.fail(long.status))))
  )
}

/** Wraps `inner` with the limits; the rate limiter is shared by every route of the node. */
export const decorateNetwork = (inner: NetworkService, limiter: RateLimiter, config: P2pServerConfig): NetworkService => ({
  ...inner,
  handleUnary: (method, handler) =>
    isGuardedPath(method.path)
      ? inner.handleUnary(method, (request, context) =>
          admitCall(limiter, config, request, context).pipe(
            Effect.zipRight(unaryWithDeadline(Effect.suspend(() => handler(request, context)), context, config.handlerTimeoutMs)),
            Effect.flatMap((response) => limitUnaryResponse(response, context))
          )
        )
      : inner.handleUnary(method, handler),
  handleServerStream: (method, handler) =>
    isGuardedPath(method.path)
      ? inner.handleServerStream(method, (request, context) =>
          Stream.unwrap(
            Effect.as(
              admitCall(limiter, config, request, context),
              streamWithDeadlines(Stream.suspend(() => handler(request, context)), context, config).pipe(
                Stream.mapAccumEffect(streamBudgetOf(request), (budget, message) => limitStreamMessage(budget, message, context))
              )
            )
          )
        )
      : inner.handleServerStream(method, handler)
})

/** The decorated `Network` of the `Network` in context, with `overrides` of the default limits. */
export const makeP2pServer = (overrides: Partial<P2pServerConfig> = {}): Effect.Effect<NetworkService, InvalidP2pServerConfig, Network> =>
  Effect.gen(function* () {
    const config = yield* Either.match(resolveP2pServerConfig(overrides), { onLeft: Effect.fail, onRight: Effect.succeed })
    const inner = yield* Network
    const limiter = yield* makeRateLimiter(config)
    return decorateNetwork(inner, limiter, config)
  })

/** Provides the `Network` it needs again, with the P2P server's limits on the six P2P routes. */
export const P2pServerLayer = (overrides: Partial<P2pServerConfig> = {}): Layer.Layer<Network, InvalidP2pServerConfig, Network> =>
  Layer.effect(Network, makeP2pServer(overrides))
