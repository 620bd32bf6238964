import { randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import { NodeCryptoLayer } from "../../../src/layers/crypto/NodeCryptoLayer.js"
import { makeVerifyPool, VerifyPoolClosed, VerifyWorkerCrashed, WORKER_YOUNG_GENERATION_MB } from "../../../src/layers/crypto/verifyPool.js"
import { Crypto, type VerifyItem } from "../../../src/services/Crypto.js"
import { blsSuite } from "./blsSuite.js"
import { cryptoSuite } from "./cryptoSuite.js"
import { utf8, validFixed } from "./fixtures.js"

cryptoSuite("node", NodeCryptoLayer)
blsSuite("node", NodeCryptoLayer)

/** `count` valid items (distinct messages, one fixed key) and the same count with a broken signature. */
const batch = (count: number, prefix = "item"): ReadonlyArray<VerifyItem> =>
  Array.from({ length: count }, (_, i) => {
    const item = validFixed(utf8(`${prefix} ${i}`))
    if (i % 3 !== 0) return item
    const signature = Uint8Array.from(item.signature)
    signature[5] = (signature[5] ?? 0) ^ 0x10
    return { ...item, signature }
  })
const expectedVerdicts = (count: number) => Array.from({ length: count }, (_, i) => i % 3 !== 0)

const defectOf = <A>(exit: Exit.Exit<A>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined

describe("verification worker pool", () => {
  it.effect("runs one worker per slot and terminates every worker when its scope closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const pool = yield* makeVerifyPool({ size: 2 }).pipe(Scope.extend(scope))
      expect(yield* pool.liveWorkers).toBe(2)
      expect(yield* pool.verifyMany(batch(200))).toEqual(expectedVerdicts(200))

      yield* Scope.close(scope, Exit.void)
      // 'exit' has fired for every worker thread: the OS threads are gone.
      expect(yield* pool.liveWorkers).toBe(0)
      // and the pool refuses work instead of hanging
      const after = yield* Effect.exit(pool.verifyMany(batch(200)))
      expect(defectOf(after)).toBeInstanceOf(VerifyPoolClosed)
    })
  )

  it.effect("a batch in flight when the scope closes ends with a defect instead of hanging", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const pool = yield* makeVerifyPool({ size: 2 }).pipe(Scope.extend(scope))
      const fiber = yield* Effect.fork(pool.verifyMany(batch(3000)))
      // real time (it.effect runs on the TestClock): let the chunks reach the workers
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Fiber.await(fiber)
      expect(defectOf(exit)).toBeInstanceOf(VerifyPoolClosed)
      expect(yield* pool.liveWorkers).toBe(0)
    })
  )

  it.effect("a crashing worker fails only its batch and is replaced; the pool keeps working", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const pool = yield* makeVerifyPool({
        size: 2,
        workerUrl: new URL("./crashingVerifyWorker.mjs", import.meta.url)
      }).pipe(Scope.extend(scope))
      const poisoned = [validFixed(utf8("CRASH please")), ...batch(99)]
      const crashed = yield* Effect.exit(pool.verifyMany(poisoned))
      expect(defectOf(crashed)).toBeInstanceOf(VerifyWorkerCrashed)
      expect(yield* pool.restarts).toBe(1)
      expect(yield* pool.liveWorkers).toBe(2)
      for (let round = 0; round < 3; round++) {
        expect(yield* pool.verifyMany(batch(300, `round ${round}`))).toEqual(expectedVerdicts(300))
      }
      yield* Scope.close(scope, Exit.void)
      expect(yield* pool.liveWorkers).toBe(0)
    })
  )

  it.effect("workers run with a small young generation, not V8's 48 MiB default (≈ 20 MB of RSS each)", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const pool = yield* makeVerifyPool({ size: 1, workerUrl: new URL("./youngGenerationWorker.mjs", import.meta.url) }).pipe(Scope.extend(scope))
      const bits = yield* pool.verifyMany(Array.from({ length: 8 }, (_, i) => validFixed(utf8(`limit ${i}`))))
      const limitMb = bits.reduce((n, bit, i) => n | (bit ? 1 << i : 0), 0)
      expect(limitMb).toBe(WORKER_YOUNG_GENERATION_MB)
      expect(limitMb).toBeLessThanOrEqual(8)
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.effect("a worker that cannot even start fails the batch (no hang) and is respawned with back-off", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const pool = yield* makeVerifyPool({
        size: 1,
        workerUrl: new URL("./no-such-worker.mjs", import.meta.url)
      }).pipe(Scope.extend(scope))
      const exit = yield* Effect.exit(pool.verifyMany(batch(100)))
      expect(defectOf(exit)).toBeInstanceOf(VerifyWorkerCrashed)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 300)))
      // 0 + 50 + 100 + 200 ms: a handful of respawns, not a spin loop
      expect(yield* pool.restarts).toBeLessThanOrEqual(6)
      yield* Scope.close(scope, Exit.void)
      expect(yield* pool.liveWorkers).toBe(0)
    })
  )

  it.effect("the layer's verifyMany is unusable once the layer's scope has closed", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(NodeCryptoLayer, scope)
      const crypto = Context.get(context, Crypto)
      expect(yield* crypto.verifyMany(batch(100))).toEqual(expectedVerdicts(100))
      yield* Scope.close(scope, Exit.void)
      const after = yield* Effect.exit(crypto.verifyMany(batch(100)))
      expect(defectOf(after)).toBeInstanceOf(VerifyPoolClosed)
      // small batches and single verifies do not need the pool
      expect(yield* crypto.verify(batch(1)[0]!)).toBe(false)
    })
  )

  it.effect("verdicts stay in item order when several batches share the pool concurrently", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const pool = yield* makeVerifyPool({ size: 2, maxChunkItems: 50 }).pipe(Scope.extend(scope))
      const batches = Array.from({ length: 6 }, (_, b) => batch(60 + b * 37, `batch ${b}`))
      const results = yield* Effect.forEach(batches, (items) => pool.verifyMany(items), { concurrency: "unbounded" })
      results.forEach((verdicts, b) => expect(verdicts).toEqual(expectedVerdicts(batches[b]!.length)))
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.effect("random messages of every size round-trip through the packed buffer", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      // a small byte cap, so that large messages also exercise the cut by size
      const pool = yield* makeVerifyPool({ size: 2, maxChunkBytes: 4096 }).pipe(Scope.extend(scope))
      const sizes = [0, 1, 31, 32, 33, 1000, 65_537, 5000, 3, 4000]
      const items = sizes.map((n) => validFixed(new Uint8Array(randomBytes(n))))
      expect(yield* pool.verifyMany([...items, ...items])).toEqual([...items, ...items].map(() => true))
      yield* Scope.close(scope, Exit.void)
    })
  )
})
