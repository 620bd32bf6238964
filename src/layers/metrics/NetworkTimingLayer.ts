/**
 * `NetworkTimingLayer`: a decorator of `Network` that records, for every outbound `call` (and each
 * `callStream` from its first pull to its end): its latency in `soma_p2p_rpc_latency_seconds` by
 * `method` and `outcome`; a failure in `soma_p2p_rpc_failures_total` by `method` and `error`; the
 * encoded response bytes in `soma_p2p_rpc_response_bytes_total` by `method`; and, per peer, bytes and
 * failures in `PeerTraffic` (exported for the top peers only). Time comes from `Clock`, so in a
 * simulation under `TestClock` the latencies are simulated ones. Inbound handlers, dials and events
 * pass through untouched.
 */
import { Cause, Clock, Effect, Exit, Layer, Metric, Option, Stream, type MetricLabel } from "effect"
import type { PeerId } from "../../domain/PeerId.js"
import { Network, type MethodDescriptor, type NetworkService } from "../../services/Network.js"
import { rpcFailuresTotal, rpcResponseBytesTotal } from "./definitions.js"
import { peerTraffic } from "./PeerTraffic.js"
import { observeRpcLatencyNow } from "./registry.js"

const NO_EXTRA_TAGS: ReadonlyArray<MetricLabel.MetricLabel> = []

/**
 * The `error` label of a failure: the tag of a `CallError` (a closed set). A failure without a tag, or
 * a defect, is counted as such rather than by its message, which would be an unbounded label value.
 */
const errorLabel = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string" ? error._tag : "Untagged"

/**
 * Records one finished call. An interrupted call is not recorded: the caller gave up (a race, a
 * closing scope), so its duration says nothing about the peer.
 */
const record = (peerId: PeerId, method: string, startNanos: bigint, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  Exit.isInterrupted(exit)
    ? Effect.void
    : Effect.flatMap(Clock.currentTimeNanos, (now) =>
        Effect.suspend(() => {
          observeRpcLatencyNow(method, Exit.isSuccess(exit) ? "ok" : "error", Number(now - startNanos) / 1e9)
          if (Exit.isSuccess(exit)) return Effect.void
          peerTraffic.addFailure(peerId)
          const error = Option.match(Cause.failureOption(exit.cause), { onNone: () => "Defect", onSome: errorLabel })
          return Metric.increment(Metric.tagged(Metric.tagged(rpcFailuresTotal, "method", method), "error", error))
        })
      )

/**
 * The same descriptor with a response codec that counts the bytes it decodes. Counting in `decode` is
 * the one place both network layers show the encoded size; it is synchronous, hence `unsafeUpdate`.
 */
const countingResponses = <K extends "unary" | "serverStream", Req, Res>(peerId: PeerId, method: MethodDescriptor<K, Req, Res>): MethodDescriptor<K, Req, Res> => {
  const counter = Metric.tagged(rpcResponseBytesTotal, "method", method.method)
  return {
    ...method,
    response: {
      ...method.response,
      decode: (bytes) => {
        counter.unsafeUpdate(bytes.length, NO_EXTRA_TAGS)
        peerTraffic.addReceivedBytes(peerId, bytes.length)
        return method.response.decode(bytes)
      }
    }
  }
}

/** `network` with every outbound call timed. */
export const timedNetwork = (network: NetworkService): NetworkService => ({
  localPeerId: network.localPeerId,
  listenAddress: network.listenAddress,
  dial: network.dial,
  hangUp: network.hangUp,
  cutOff: network.cutOff,
  call: (peerId, method, request, options) =>
    Effect.flatMap(Clock.currentTimeNanos, (start) =>
      Effect.onExit(network.call(peerId, countingResponses(peerId, method), request, options), (exit) => record(peerId, method.method, start, exit))
    ),
  // The clock starts when the stream is first pulled and stops when its scope closes: the whole stream.
  callStream: (peerId, method, request, options) =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const start = yield* Clock.currentTimeNanos
        yield* Effect.addFinalizer((exit) => record(peerId, method.method, start, exit))
        return network.callStream(peerId, countingResponses(peerId, method), request, options)
      })
    ),
  handleUnary: network.handleUnary,
  handleServerStream: network.handleServerStream,
  peerEvents: network.peerEvents,
  connectedPeers: network.connectedPeers
})

/** Requires a `Network` and provides it again, with outbound calls timed. */
export const NetworkTimingLayer: Layer.Layer<Network, never, Network> = Layer.effect(Network, Effect.map(Network, timedNetwork))
