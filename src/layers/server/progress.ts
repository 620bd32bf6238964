/**
 * The no-progress deadline of a server stream: from a message handed to the transport to the
 * transport's next pull. The gRPC transport pulls the next message only once the last one is flushed
 * (it waits for 'drain'), so a caller that stops reading stops the pulls; past the deadline the stream
 * is cut, which frees its buffered message and its concurrency slots.
 *
 * A stream's own timeouts cannot do this: while the transport waits to write, nothing pulls the
 * stream, so no operator on it runs. The cut therefore interrupts the fiber that consumes the stream
 * (the transport's call fiber, captured when the stream starts), which ends the call — gRPC answers it
 * with UNAVAILABLE, as for any call the server gives up on.
 */
import { Duration, Effect, Fiber, Option, Ref, Stream } from "effect"

/**
 * `stream` cut after `timeoutMs` without a pull following a message; `onCut` runs first (a log line).
 * Pulls are timed at the boundary between this stream and its consumer, so the wrapper must be the
 * outermost operator that runs on the consumer's fiber.
 */
export const cutWhenUnread = <A, E>(stream: Stream.Stream<A, E>, timeoutMs: number, onCut: Effect.Effect<void>): Stream.Stream<A, E> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const consumer = yield* Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>((fiber) => Effect.succeed(fiber))
      const pull = yield* Stream.toPull(stream)
      const armed = yield* Ref.make<Option.Option<Fiber.RuntimeFiber<void>>>(Option.none())
      const disarm = Effect.flatMap(
        Ref.getAndSet(armed, Option.none()),
        Option.match({ onNone: () => Effect.void, onSome: (watchdog) => Fiber.interrupt(watchdog) })
      )
      const arm = Effect.flatMap(
        Effect.forkDaemon(Effect.zipRight(Effect.sleep(Duration.millis(timeoutMs)), Effect.zipRight(onCut, Fiber.interruptFork(consumer)))),
        (watchdog) => Ref.set(armed, Option.some(watchdog))
      )
      yield* Effect.addFinalizer(() => disarm)
      return Stream.repeatEffectChunkOption(Effect.zipRight(disarm, Effect.tap(pull, () => arm)))
    })
  )
