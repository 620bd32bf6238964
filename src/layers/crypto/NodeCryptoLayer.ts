/**
 * `NodeCryptoLayer`: the fast default implementation of `Crypto`.
 *
 * - Ed25519 through OpenSSL (`node:crypto`), behind the shared strict pre-check (`ed25519Strict.ts`)
 *   so that its verdicts are exactly those of `NobleCryptoLayer`;
 * - `verifyMany` spread over a pool of worker threads (one per core) owned by the layer's scope;
 * - Blake2b-256 with hash-wasm (WASM), ≈ 28x faster than the pure-JS implementation here.
 *
 * Choices and measurements are in docs/decisions.md (## Crypto).
 */
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject
} from "node:crypto"
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import { Data, Effect, Layer, type Scope } from "effect"
import { createBLAKE2b } from "hash-wasm"
import { Crypto, type CryptoService, type Ed25519Keypair, type VerifyItem } from "../../services/Crypto.js"
import { strictPrecheck } from "./ed25519Strict.js"

/** DER prefix of a PKCS#8 Ed25519 private key; followed by the 32-byte seed (RFC 8410). */
const PKCS8_ED25519_SEED_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")
/** Length of the DER prefix of an SPKI Ed25519 public key; the raw 32-byte key follows it. */
const SPKI_ED25519_PREFIX_LENGTH = 12

/**
 * The key argument for `crypto.verify`. A JWK import costs ≈ 7 µs in OpenSSL 3.0, an SPKI DER import
 * ≈ 75 µs (its decoder framework is slow), i.e. DER would nearly halve verify throughput.
 */
const publicKeyInput = (publicKey: Uint8Array) =>
  ({
    key: {
      kty: "OKP",
      crv: "Ed25519",
      x: Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString("base64url")
    },
    format: "jwk"
  }) as const

/**
 * Strict verification of one item on the calling thread: the shared pre-check, then OpenSSL's
 * cofactorless equation (encode([S]B − [k]A) == R bytes). Never throws.
 */
export const nativeVerify = (item: VerifyItem): boolean => {
  if (!strictPrecheck(item.publicKey, item.signature)) return false
  try {
    return nodeVerify(null, item.message, publicKeyInput(item.publicKey), item.signature)
  } catch {
    return false // e.g. a y that is not on the curve: OpenSSL refuses the key
  }
}

/**
 * The same check with the callback form of `crypto.verify` (OpenSSL on libuv's thread pool). Not
 * used by the layer: it measured about as fast as the worker pool but kept the main thread ~60% busy
 * (vs ~3%) with key imports, job setup and callbacks. Kept for the benchmark that made the choice.
 */
export const nativeVerifyOnThreadPool = (item: VerifyItem): Promise<boolean> => {
  if (!strictPrecheck(item.publicKey, item.signature)) return Promise.resolve(false)
  return new Promise((resolve) => {
    try {
      nodeVerify(null, item.message, publicKeyInput(item.publicKey), item.signature, (error, ok) =>
        resolve(error === null && ok)
      )
    } catch {
      resolve(false)
    }
  })
}

// ---------------------------------------------------------------------------------------------------
// Worker pool

/** Defect: `verifyMany` was called on a pool whose scope has closed. */
export class VerifyPoolClosed extends Data.TaggedError("VerifyPoolClosed")<{}> {}

/** Defect: a verification worker died while verifying a chunk (the worker is replaced). */
export class VerifyWorkerCrashed extends Data.TaggedError("VerifyWorkerCrashed")<{ readonly reason: string }> {}

/** Options of `makeVerifyPool`. */
export interface VerifyPoolOptions {
  /** Number of worker threads; default `os.availableParallelism()`. */
  readonly size?: number
  /** The worker module; default `verifyWorker.mjs` next to this file (tests swap it). */
  readonly workerUrl?: URL
  /**
   * Largest chunk sent to one worker. Chunks much larger than a worker's share of a batch would only
   * delay other batches queued behind them; 2048 items ≈ 0.2 s of one core.
   */
  readonly maxChunkItems?: number
  /** Largest packed chunk in bytes (8 MiB by default), so that large messages do not make huge copies. */
  readonly maxChunkBytes?: number
}

/** A pool of verification worker threads, alive while the scope that created it is open. */
export interface VerifyPool {
  /** Number of worker slots. */
  readonly size: number
  /** Strict verdicts for `items`, in order (pre-check on this thread, equation on the workers). */
  readonly verifyMany: (items: ReadonlyArray<VerifyItem>) => Effect.Effect<ReadonlyArray<boolean>>
  /** Worker threads started and not yet exited (0 once the scope has closed). */
  readonly liveWorkers: Effect.Effect<number>
  /** How many crashed workers were replaced. */
  readonly restarts: Effect.Effect<number>
}

interface Task {
  readonly buffer: ArrayBuffer
  readonly count: number
  /** Settles the task once; later calls and calls after cancellation are ignored. */
  readonly settle: (result: Uint8Array | VerifyPoolClosed | VerifyWorkerCrashed) => void
  cancelled: boolean
}

interface Slot {
  readonly worker: Worker
  task: Task | undefined
}

/** Bytes of one packed item: pk (32) | sig (64) | u32le msgLen | msg. */
const packedItemSize = (item: VerifyItem): number => 100 + item.message.length

/** Packs `items[indices[start..end)]` into ONE transferable buffer (layout: see verifyWorker.mjs). */
const packChunk = (items: ReadonlyArray<VerifyItem>, indices: ReadonlyArray<number>, start: number, end: number) => {
  let total = 4
  for (let j = start; j < end; j++) total += packedItemSize(items[indices[j]!]!)
  const buffer = new ArrayBuffer(total)
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  view.setUint32(0, end - start, true)
  let offset = 4
  for (let j = start; j < end; j++) {
    const item = items[indices[j]!]!
    bytes.set(item.publicKey, offset)
    bytes.set(item.signature, offset + 32)
    view.setUint32(offset + 96, item.message.length, true)
    bytes.set(item.message, offset + 100)
    offset += packedItemSize(item)
  }
  return buffer
}

/**
 * Starts a pool of verification workers in the current scope; closing the scope terminates them.
 *
 * A worker that dies (uncaught error, OOM, ...) fails only the chunk it was verifying — with the
 * defect `VerifyWorkerCrashed` — and is replaced (at once; repeated crashes back off up to 5 s), so
 * one bad batch cannot take the layer down.
 * Workers are `unref`'d while idle so an idle pool never keeps the process alive, and `ref`'d while
 * busy so a pending verification does.
 */
export const makeVerifyPool = (options: VerifyPoolOptions = {}): Effect.Effect<VerifyPool, never, Scope.Scope> => {
  const size = Math.max(1, options.size ?? availableParallelism())
  const workerUrl = options.workerUrl ?? new URL("./verifyWorker.mjs", import.meta.url)
  const maxChunkItems = Math.max(1, options.maxChunkItems ?? 2048)
  const maxChunkBytes = Math.max(1, options.maxChunkBytes ?? 8 * 1024 * 1024)

  const acquire = Effect.sync(() => {
    const state = {
      closed: false,
      live: 0,
      restarts: 0,
      /** Crashes since the last successful reply: drives the respawn back-off. */
      consecutiveCrashes: 0,
      // Chunks waiting for a worker. Bounded by the callers: each verifyMany waits for its own chunks,
      // so the queue never holds more than the batches currently in flight.
      queue: [] as Array<Task>,
      /** `undefined` while a crashed slot waits for its respawn. */
      slots: [] as Array<Slot | undefined>,
      respawnTimers: new Set<NodeJS.Timeout>()
    }

    const pump = (): void => {
      for (const slot of state.slots) {
        if (slot === undefined || slot.task !== undefined) continue
        let task = state.queue.shift()
        while (task !== undefined && task.cancelled) task = state.queue.shift()
        if (task === undefined) return
        slot.task = task
        slot.worker.ref()
        slot.worker.postMessage(task.buffer, [task.buffer])
      }
    }

    const spawn = (index: number): void => {
      const worker = new Worker(workerUrl)
      const slot: Slot = { worker, task: undefined }
      state.slots[index] = slot
      state.live++
      worker.unref()
      let lastError = "exited"
      worker.on("message", (verdicts: unknown) => {
        const task = slot.task
        slot.task = undefined
        worker.unref()
        state.consecutiveCrashes = 0
        if (task !== undefined) {
          task.settle(
            verdicts instanceof Uint8Array && verdicts.length === task.count
              ? verdicts
              : new VerifyWorkerCrashed({ reason: "malformed reply from verification worker" })
          )
        }
        pump()
      })
      // Without an 'error' listener a worker's uncaught exception would be re-thrown on this thread.
      worker.on("error", (error) => {
        lastError = error instanceof Error ? error.message : String(error)
      })
      worker.on("exit", (code) => {
        state.live--
        const task = slot.task
        slot.task = undefined
        if (state.closed) {
          task?.settle(new VerifyPoolClosed())
          return
        }
        task?.settle(new VerifyWorkerCrashed({ reason: `${lastError} (exit code ${code})` }))
        state.slots[index] = undefined
        state.restarts++
        state.consecutiveCrashes++
        // The first replacement is immediate; repeated crashes back off (up to 5 s) so that a worker
        // that cannot even start (e.g. a missing file) does not spin a core in a respawn loop.
        const delay = state.consecutiveCrashes <= 1 ? 0 : Math.min(5_000, 50 * 2 ** (state.consecutiveCrashes - 2))
        const respawn = () => {
          if (state.closed) return
          spawn(index)
          pump()
        }
        if (delay === 0) {
          respawn()
        } else {
          const timer = setTimeout(() => {
            state.respawnTimers.delete(timer)
            respawn()
          }, delay)
          timer.unref()
          state.respawnTimers.add(timer)
        }
      })
    }

    for (let i = 0; i < size; i++) spawn(i)
    return { state, pump }
  })

  const release = ({ state }: Effect.Effect.Success<typeof acquire>) =>
    Effect.promise(async () => {
      state.closed = true
      for (const timer of state.respawnTimers) clearTimeout(timer)
      for (const task of state.queue.splice(0)) task.settle(new VerifyPoolClosed())
      // terminate() resolves once the thread has stopped and 'exit' has been emitted.
      await Promise.all(state.slots.map((slot) => slot?.worker.terminate()))
    })

  return Effect.acquireRelease(acquire, release).pipe(
    Effect.map(({ pump, state }): VerifyPool => {
      const runChunk = (buffer: ArrayBuffer, count: number) =>
        Effect.async<Uint8Array>((resume) => {
          if (state.closed) {
            resume(Effect.die(new VerifyPoolClosed()))
            return
          }
          let settled = false
          const task: Task = {
            buffer,
            count,
            cancelled: false,
            settle: (result) => {
              if (settled || task.cancelled) return
              settled = true
              resume(result instanceof Uint8Array ? Effect.succeed(result) : Effect.die(result))
            }
          }
          state.queue.push(task)
          pump()
          // Interrupted: a queued chunk is dropped; a running one finishes and its reply is ignored.
          return Effect.sync(() => {
            task.cancelled = true
          })
        })

      const verifyMany = (items: ReadonlyArray<VerifyItem>): Effect.Effect<ReadonlyArray<boolean>> =>
        Effect.suspend(() => {
          const verdicts = new Array<boolean>(items.length).fill(false)
          // The pre-check runs here (byte comparisons, ≈ 0.1 µs/item) so the worker stays dependency-free
          // and there is a single implementation of it for both layers.
          const passing: Array<number> = []
          for (let i = 0; i < items.length; i++) {
            const item = items[i]!
            if (strictPrecheck(item.publicKey, item.signature)) passing.push(i)
          }
          if (passing.length === 0) return Effect.succeed(verdicts)
          // One chunk per worker, smaller if the item or byte cap says so.
          const perChunk = Math.min(maxChunkItems, Math.ceil(passing.length / size))
          const chunks: Array<readonly [number, number]> = []
          let start = 0
          let bytes = 0
          for (let j = 0; j < passing.length; j++) {
            const itemBytes = packedItemSize(items[passing[j]!]!)
            if (j > start && (j - start === perChunk || bytes + itemBytes > maxChunkBytes)) {
              chunks.push([start, j])
              start = j
              bytes = 0
            }
            bytes += itemBytes
          }
          chunks.push([start, passing.length])
          return Effect.forEach(
            chunks,
            ([start, end]) =>
              runChunk(packChunk(items, passing, start, end), end - start).pipe(
                Effect.map((chunkVerdicts) => {
                  for (let j = 0; j < chunkVerdicts.length; j++) verdicts[passing[start + j]!] = chunkVerdicts[j] === 1
                })
              ),
            { concurrency: "unbounded", discard: true }
          ).pipe(Effect.as(verdicts))
        })

      return {
        size,
        verifyMany,
        liveWorkers: Effect.sync(() => state.live),
        restarts: Effect.sync(() => state.restarts)
      }
    })
  )
}

// ---------------------------------------------------------------------------------------------------
// The layer

/** Options of `makeNodeCrypto`. */
export interface NodeCryptoOptions {
  readonly pool?: VerifyPoolOptions
  /**
   * Batches smaller than this are verified on the calling thread: a round trip to a worker costs
   * about as much as a few verifies, and a small batch then never waits behind a large one.
   */
  readonly inlineBelow?: number
}

/**
 * Imported private keys by key-pair object (an import costs more than a signature). Key pairs are
 * values: their seed is never mutated after creation, so the cache cannot go stale.
 */
const privateKeys = new WeakMap<Ed25519Keypair, KeyObject>()

/** The key pair of a 32-byte seed, synchronously (config loading and wiring need it outside the service). */
export const keypairFromSeedSync = (seed: Uint8Array): Ed25519Keypair => {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`)
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_SEED_PREFIX, seed]),
    format: "der",
    type: "pkcs8"
  })
  const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" })
  const keypair: Ed25519Keypair = {
    seed: Uint8Array.from(seed),
    publicKey: Uint8Array.from(spki.subarray(SPKI_ED25519_PREFIX_LENGTH))
  }
  privateKeys.set(keypair, privateKey)
  return keypair
}

const privateKeyOf = (keypair: Ed25519Keypair): KeyObject => {
  const cached = privateKeys.get(keypair)
  if (cached !== undefined) return cached
  if (keypair.seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${keypair.seed.length}`)
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_SEED_PREFIX, keypair.seed]),
    format: "der",
    type: "pkcs8"
  })
  privateKeys.set(keypair, key)
  return key
}

const toPlainBytes = (buffer: Buffer): Uint8Array => Uint8Array.from(buffer)

/** Builds the node `CryptoService` in the current scope (the worker pool lives as long as the scope). */
export const makeNodeCrypto = (options: NodeCryptoOptions = {}): Effect.Effect<CryptoService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const inlineBelow = options.inlineBelow ?? 16
    // createBLAKE2b is async (it instantiates the WASM module) — once, here; hashing is then sync.
    const hasher = yield* Effect.promise(() => createBLAKE2b(256))
    const pool = yield* makeVerifyPool(options.pool)
    const service: CryptoService = {
      name: "node",
      keypairFromSeed: (seed) => Effect.sync(() => keypairFromSeedSync(seed)),
      // A key is a secret: it comes from the OS CSPRNG, not from the (seedable) Effect `Random`.
      generateKeypair: Effect.sync(() => keypairFromSeedSync(randomBytes(32))),
      sign: (keypair, message) => Effect.sync(() => toPlainBytes(nodeSign(null, message, privateKeyOf(keypair)))),
      verify: (item) => Effect.sync(() => nativeVerify(item)),
      verifyMany: (items) =>
        items.length < inlineBelow ? Effect.sync(() => items.map(nativeVerify)) : pool.verifyMany(items),
      // Synchronous and not re-entrant, which is safe: JS never interleaves inside this call.
      blake2b256: (data) => hasher.init().update(data).digest("binary")
    }
    return service
  })

/** The native `Crypto` layer: OpenSSL Ed25519, a verification worker pool over every core, WASM Blake2b. */
export const NodeCryptoLayer: Layer.Layer<Crypto> = Layer.scoped(Crypto, makeNodeCrypto())
