/**
 * `NetworkTimingLayer`: a decorator of `Network` that records the latency of every outbound `call`
 * (and of each `callStream` from its first pull to its end) in `soma_p2p_rpc_latency_seconds`, tagged
 * by `method` and `outcome`, and the encoded response bytes in `soma_p2p_rpc_response_bytes_total`.
 * Time comes from `Clock`, so in a simulation under `TestClock` the latencies are simulated ones.
 * Inbound handlers, dials and events pass through untouched.
 */
import { Clock, Effect, Exit, Layer, Metric, Stream, type MetricLabel } from "effect"
import { Network, type MethodDescriptor, type NetworkService } from "../../services/Network.js"
import { rpcLatencyOf, rpcResponseBytesTotal } from "./definitions.js"

const NO_EXTRA_TAGS: ReadonlyArray<MetricLabel.MetricLabel> = []

/**
 * Records one finished call. An interrupted call is not recorded: the caller gave up (a race, a
 * closing scope), so its duration says nothing about the peer.
 */
const record = (method: string, startNanos: bigint, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  Exit.isInterrupted(exit)
    ? Effect.void
    : Effect.flatMap(Clock.currentTimeNanos, (now) =>
        Metric.update(rpcLatencyOf(method, Exit.isSuccess(exit) ? "ok" : "error"), Number(now - startNanos) / 1e9)
      )

/**
 * The same descriptor with a response codec that counts the bytes it decodes. Counting in `decode` is
 * the one place both network layers show the encoded size; it is synchronous, hence `unsafeUpdate`.
 */
const countingResponses = <K extends "unary" | "serverStream", Req, Res>(method: MethodDescriptor<K, Req, Res>): MethodDescriptor<K, Req, Res> => {
  const counter = Metric.tagged(rpcResponseBytesTotal, "method", method.method)
  return {
    ...method,
    response: {
      encode: method.response.encode,
      decode: (bytes) => {
        counter.unsafeUpdate(bytes.length, NO_EXTRA_TAGS)
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
  call: (peerId, method, request, options) =>
    Effect.flatMap(Clock.currentTimeNanos, (start) =>
      Effect.onExit(network.call(peerId, countingResponses(method), request, options), (exit) => record(method.method, start, exit))
    ),
  // The clock starts when the stream is first pulled and stops when its scope closes: the whole stream.
  callStream: (peerId, method, request, options) =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const start = yield* Clock.currentTimeNanos
        yield* Effect.addFinalizer((exit) => record(method.method, start, exit))
        return network.callStream(peerId, countingResponses(method), request, options)
      })
    ),
  handleUnary: network.handleUnary,
  handleServerStream: network.handleServerStream,
  peerEvents: network.peerEvents,
  connectedPeers: network.connectedPeers
})

/** Requires a `Network` and provides it again, with outbound calls timed. */
export const NetworkTimingLayer: Layer.Layer<Network, never, Network> = Layer.effect(Network, Effect.map(Network, timedNetwork))
