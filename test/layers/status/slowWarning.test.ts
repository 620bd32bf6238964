/**
 * `warnIfSlow`: a node whose store write or status step hangs says so in its log, and watching an
 * operation never slows it down — also inside an uninterruptible store write, where a forked timer
 * that could not be interrupted once made every write wait out the warning delay.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Logger, TestClock } from "effect"
import { warnIfSlow } from "../../../src/layers/status/slowWarning.js"

const captured = (messages: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => void messages.push(String(Array.isArray(message) ? message.join(" ") : message)))
  )

describe("warnIfSlow", () => {
  it.effect("an uninterruptible operation that finishes in time ends at once, with no warning", () =>
    Effect.gen(function* () {
      const messages: Array<string> = []
      const fiber = yield* Effect.fork(Effect.uninterruptible(warnIfSlow("LMDB write", 10_000)(Effect.sleep("5 millis"))).pipe(Effect.provide(captured(messages))))
      yield* TestClock.adjust("5 millis")
      // Done after 5 ms of virtual time: it did not wait for the 10 s warning timer.
      expect(fiber.unsafePoll()).not.toBeNull()
      yield* TestClock.adjust("20 seconds")
      expect(messages).toEqual([])
    })
  )

  it.effect("an operation still pending after the delay is logged once, and still completes", () =>
    Effect.gen(function* () {
      const messages: Array<string> = []
      const fiber = yield* Effect.fork(warnIfSlow("status report: executor.stateDigest", 5_000)(Effect.as(Effect.sleep("12 seconds"), 42)).pipe(Effect.provide(captured(messages))))
      yield* TestClock.adjust("6 seconds")
      expect(messages).toEqual(["status report: executor.stateDigest still pending after 5000 ms"])
      yield* TestClock.adjust("6 seconds")
      expect(yield* Fiber.join(fiber)).toBe(42)
      expect(messages).toHaveLength(1)
    })
  )
})
