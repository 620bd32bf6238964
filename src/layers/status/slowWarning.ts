/**
 * A warning for an operation that should take milliseconds and is still pending after `afterMs`:
 * the operation goes on untouched (nothing is cancelled), but a node that stops making progress
 * says in its log what it is waiting for.
 */
import { Effect, Fiber } from "effect"

export const warnIfSlow =
  (what: string, afterMs: number) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(
      // Interruptible even when forked from an uninterruptible region (a store write): otherwise
      // interrupting it would wait out its delay, and every write would take `afterMs`.
      Effect.fork(Effect.interruptible(Effect.delay(Effect.logWarning(`${what} still pending after ${afterMs} ms`), afterMs))),
      (warning) => Effect.ensuring(effect, Fiber.interruptFork(warning))
    )

/** A step of a node's shutdown (closing the store, the workers, the connections) takes milliseconds. */
export const SHUTDOWN_STEP_WARNING_MS = 2_000
