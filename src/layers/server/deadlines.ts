/**
 * Deadlines on the server's own work: a unary answer, the next stream message, a whole stream. Past
 * one the call ends with UNAVAILABLE and a warning (a hang is a bug or an overload), and its
 * concurrency slots are freed.
 */
import { Duration, Effect, Option, Stream } from "effect"
import { shortPeerId } from "../../domain/PeerId.js"
import { HandlerStatus, type InboundContext } from "../../services/Network.js"
import type { P2pServerConfig } from "./config.js"

/** The status of a call cut off by a deadline, and its log line. */
export const cutOff = (context: InboundContext, what: string, timeoutMs: number) => {
  const status = HandlerStatus.unavailable(`${context.path}: ${what} took longer than ${timeoutMs} ms`)
  return {
    status,
    log: Effect.logWarning(`P2P server: ${what} of ${context.path} cut off after ${timeoutMs} ms`).pipe(
      Effect.annotateLogs({ peer: shortPeerId(context.peerId) })
    )
  }
}

/** A unary handler within the deadline. */
export const unaryWithDeadline = <A>(work: Effect.Effect<A, HandlerStatus>, context: InboundContext, timeoutMs: number) =>
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
 * the handler's time counts), the whole stream within `streamTimeoutMs` while it is being pulled.
 */
export const streamWithDeadlines = <A>(stream: Stream.Stream<A, HandlerStatus>, context: InboundContext, config: P2pServerConfig) => {
  const slow = cutOff(context, "next message", config.handlerTimeoutMs)
  const long = cutOff(context, "stream", config.streamTimeoutMs)
  return stream.pipe(
    Stream.timeoutFail(() => slow.status, Duration.millis(config.handlerTimeoutMs)),
    Stream.tapError((status) => (status === slow.status ? slow.log : Effect.void)),
    Stream.interruptWhen(Effect.zipRight(Effect.sleep(Duration.millis(config.streamTimeoutMs)), Effect.zipRight(long.log, Effect.fail(long.status))))
  )
}
