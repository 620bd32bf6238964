/**
 * Admission of one P2P request, on its bytes, in order of cost to us:
 *
 * 1. the caller's rate, charged by what the request weighs (`tokensFor`), refused or not after;
 * 2. the route's receive limit (bytes) → RESOURCE_EXHAUSTED;
 * 3. the pre-scan of counts and lengths (`wireScan.ts`): over a count → RESOURCE_EXHAUSTED, a bad
 *    length or bytes that are not protobuf → INVALID_ARGUMENT;
 * 4. only then the decoder, and the Schema rules of `requests.ts` on the decoded request.
 *
 * Nothing before step 4 allocates in proportion to the request, and every step after the first has
 * already been paid for.
 */
import { Effect, Either, Option } from "effect"
import { shortPeerId } from "../../domain/PeerId.js"
import { describeScanFailure, scanMessage } from "../../proto/wireScan.js"
import { HandlerStatus, type InboundContext } from "../../services/Network.js"
import type { P2pRoute } from "../../services/P2pServer.js"
import type { P2pServerConfig } from "./config.js"
import { tokensFor } from "./constants.js"
import type { RateLimiter } from "./rateLimit.js"
import { validateRequest } from "./requests.js"

/** Charges the caller for `bytes` and refuses it when it is over its rate (logged at debug: a flood must not flood the log). */
export const chargeCaller = (limiter: RateLimiter, config: P2pServerConfig, bytes: Uint8Array, context: InboundContext): Effect.Effect<void, HandlerStatus> =>
  Effect.flatMap(limiter.admit(context.peerId, tokensFor(bytes.length)), (allowed) =>
    allowed
      ? Effect.void
      : Effect.zipRight(
          Effect.logDebug(`P2P server: rate limit refused ${context.path} from ${shortPeerId(context.peerId)}`),
          Effect.fail(HandlerStatus.resourceExhausted(`rate limit: more than ${config.ratePerSecond} calls/s (burst ${config.burst}) from this peer`))
        )
  )

/** Steps 2 and 3: the receive limit and the pre-scan, on bytes already paid for. */
export const checkBytes = <Req, Res>(route: P2pRoute<"unary" | "serverStream", Req, Res>, bytes: Uint8Array): Option.Option<HandlerStatus> => {
  const { method, policy } = route
  if (bytes.length > policy.maxRequestBytes) {
    return Option.some(HandlerStatus.resourceExhausted(`${method.method}: request of ${bytes.length} bytes, at most ${policy.maxRequestBytes} on this route`))
  }
  return Either.match(scanMessage(bytes, policy.fields), {
    onRight: () => Option.none(),
    onLeft: (failure) =>
      Option.some(
        new HandlerStatus({
          code: failure._tag === "TooMany" ? "RESOURCE_EXHAUSTED" : "INVALID_ARGUMENT",
          detail: `${method.method}${failure._tag === "Malformed" ? ": " : "."}${describeScanFailure(failure)}`
        })
      )
  })
}

/** Step 4: decodes bytes that passed the checks and validates the request. */
export const decodeChecked = <Req, Res>(route: P2pRoute<"unary" | "serverStream", Req, Res>, bytes: Uint8Array): Effect.Effect<Req, HandlerStatus> =>
  Either.match(route.method.request.decode(bytes), {
    onLeft: (reason) => Effect.fail(HandlerStatus.invalidArgument(`${route.method.path}: ${reason}`)),
    onRight: (request) => Option.match(validateRequest(route.method.path, request), { onNone: () => Effect.succeed(request), onSome: Effect.fail })
  })
