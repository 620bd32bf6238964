/**
 * The verification worker pool of `NodeCryptoLayer`: one worker thread per core (`verifyWorker.mjs`),
 * owned by a scope, serving both Ed25519 batches (`verifyMany`) and BLS12-381 aggregate batches
 * (`verifyAggregates`). A batch is cut into one chunk per worker (so every core verifies), each chunk
 * packed into one transferable buffer (chunkFormat.ts) — the main thread only packs and unpacks, and
 * stays free for the network.
 *
 * Measured on the 2-core reference machine: two workers reach ≈ 1.9x one thread for Ed25519. For BLS
 * the gain is smaller (≈ 2,300 → 2,600–3,000 certificates/s): blst already spreads the pairing of a
 * random-scalar batch over every core with its own process-wide thread pool, so the workers add
 * parallel decoding and key aggregation — and keep the main thread free, which matters more.
 */
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import { Data, Effect, type Scope } from "effect"
import type { AggregateItem, VerifyItem } from "../../services/Crypto.js"
import { blsItemSize, ed25519ItemSize, packBlsChunk, packEd25519Chunk } from "./chunkFormat.js"
import { strictPrecheck } from "./ed25519Strict.js"
import { SHUTDOWN_STEP_WARNING_MS, warnIfSlow } from "../status/slowWarning.js"

/** Defect: `verifyMany`/`verifyAggregates` was called on a pool whose scope has closed. */
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
   * Largest Ed25519 chunk sent to one worker. Chunks much larger than a worker's share of a batch
   * would only delay other batches queued behind them; 2048 items ≈ 0.2 s of one core.
   */
  readonly maxChunkItems?: number
  /** Largest BLS chunk: 512 certificates ≈ 0.2 s of one core (≈ 0.38 ms each). */
  readonly maxBlsChunkItems?: number
  /** Smallest BLS chunk when a batch is split over the workers (see MIN_BLS_CHUNK_ITEMS). */
  readonly minBlsChunkItems?: number
  /** Largest packed chunk in bytes (8 MiB by default), so that large messages do not make huge copies. */
  readonly maxChunkBytes?: number
  /** Each worker's young generation, MiB (`WORKER_YOUNG_GENERATION_MB` by default). */
  readonly youngGenerationMb?: number
}

/** A pool of verification worker threads, alive while the scope that created it is open. */
export interface VerifyPool {
  /** Number of worker slots. */
  readonly size: number
  /** Strict Ed25519 verdicts for `items`, in order (pre-check on this thread, equation on the workers). */
  readonly verifyMany: (items: ReadonlyArray<VerifyItem>) => Effect.Effect<ReadonlyArray<boolean>>
  /** BLS aggregate verdicts for `items`, in order (everything on the workers: see blsVerify.mjs). */
  readonly verifyAggregates: (items: ReadonlyArray<AggregateItem>) => Effect.Effect<ReadonlyArray<boolean>>
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

/**
 * Young generation of each worker, MiB. A worker isolate gets V8's default of 48 MiB (semi-spaces of
 * up to 16 MiB, both resident once used): measured in the 100-validator sync bench, each worker's heap
 * reached 28 MB, 16 of it young space, for ≈ 1 MB of objects that live beyond a chunk (key caches).
 * A worker's garbage is per-item scratch (a key object, a few small buffers), so 6 MiB (2 MiB
 * semi-spaces) only means more frequent, still tiny scavenges: 17 MB per worker, ≈ 22 MB less RSS
 * for the two workers of a 2-core node.
 */
export const WORKER_YOUNG_GENERATION_MB = 6

/**
 * BLS batches smaller than twice this stay in one chunk (one worker). blst already runs the pairing of
 * a random-scalar batch on every core, so splitting a small batch only loses the batching (measured per
 * certificate, 2 / 4 / 8 items: 1.35 / 1.00 / 0.79 ms split vs 1.22 / 0.89 / 0.71 ms whole); from a
 * few dozen items on, splitting wins a little by decoding and aggregating keys on both workers.
 */
const MIN_BLS_CHUNK_ITEMS = 16

/**
 * Cuts `count` items into ranges of at most `perChunk` items and `maxBytes` packed bytes (a single
 * item larger than `maxBytes` still gets its own chunk).
 */
const cutChunks = (
  count: number,
  perChunk: number,
  maxBytes: number,
  itemBytes: (j: number) => number
): ReadonlyArray<readonly [number, number]> => {
  const chunks: Array<readonly [number, number]> = []
  let start = 0
  let bytes = 0
  for (let j = 0; j < count; j++) {
    const size = itemBytes(j)
    if (j > start && (j - start === perChunk || bytes + size > maxBytes)) {
      chunks.push([start, j])
      start = j
      bytes = 0
    }
    bytes += size
  }
  if (count > 0) chunks.push([start, count])
  return chunks
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
  const maxBlsChunkItems = Math.max(1, options.maxBlsChunkItems ?? 512)
  const minBlsChunkItems = Math.max(1, Math.min(maxBlsChunkItems, options.minBlsChunkItems ?? MIN_BLS_CHUNK_ITEMS))
  const maxChunkBytes = Math.max(1, options.maxChunkBytes ?? 8 * 1024 * 1024)
  const resourceLimits = { maxYoungGenerationSizeMb: Math.max(1, options.youngGenerationMb ?? WORKER_YOUNG_GENERATION_MB) }

  const acquire = Effect.sync(() => {
    const state = {
      closed: false,
      live: 0,
      restarts: 0,
      /** Crashes since the last successful reply: drives the respawn back-off. */
      consecutiveCrashes: 0,
      // Chunks waiting for a worker. Bounded by the callers: each batch waits for its own chunks,
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
      const worker = new Worker(workerUrl, { resourceLimits })
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

  return Effect.acquireRelease(acquire, (pool) => warnIfSlow("shutdown: stopping the verification workers", SHUTDOWN_STEP_WARNING_MS)(release(pool))).pipe(
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

      /** Runs every chunk concurrently; `onVerdicts(start, verdicts)` stores each chunk's reply. */
      const runChunks = (
        chunks: ReadonlyArray<readonly [number, number]>,
        pack: (start: number, end: number) => ArrayBuffer,
        onVerdicts: (start: number, verdicts: Uint8Array) => void
      ) =>
        Effect.forEach(
          chunks,
          ([start, end]) =>
            runChunk(pack(start, end), end - start).pipe(Effect.map((verdicts) => onVerdicts(start, verdicts))),
          { concurrency: "unbounded", discard: true }
        )

      const verifyMany = (items: ReadonlyArray<VerifyItem>): Effect.Effect<ReadonlyArray<boolean>> =>
        Effect.suspend(() => {
          const verdicts = new Array<boolean>(items.length).fill(false)
          // The pre-check runs here (byte comparisons, ≈ 0.1 µs/item) so the worker needs only
          // node:crypto for Ed25519 and there is a single implementation of it for both layers.
          const passing: Array<number> = []
          for (let i = 0; i < items.length; i++) {
            const item = items[i]!
            if (strictPrecheck(item.publicKey, item.signature)) passing.push(i)
          }
          // One chunk per worker, smaller if the item or byte cap says so.
          const perChunk = Math.min(maxChunkItems, Math.ceil(passing.length / size))
          const chunks = cutChunks(passing.length, perChunk, maxChunkBytes, (j) => ed25519ItemSize(items[passing[j]!]!))
          return runChunks(
            chunks,
            (start, end) => packEd25519Chunk(items, passing, start, end),
            (start, chunkVerdicts) => {
              for (let j = 0; j < chunkVerdicts.length; j++) verdicts[passing[start + j]!] = chunkVerdicts[j] === 1
            }
          ).pipe(Effect.as(verdicts))
        })

      const verifyAggregates = (items: ReadonlyArray<AggregateItem>): Effect.Effect<ReadonlyArray<boolean>> =>
        Effect.suspend(() => {
          const verdicts = new Array<boolean>(items.length).fill(false)
          // One chunk per worker (but none below MIN_BLS_CHUNK_ITEMS): each chunk is one random-scalar
          // batch, so fewer, larger chunks amortise more, but decoding and key aggregation then run
          // on every core.
          const perChunk = Math.min(maxBlsChunkItems, Math.max(minBlsChunkItems, Math.ceil(items.length / size)))
          const chunks = cutChunks(items.length, perChunk, maxChunkBytes, (j) => blsItemSize(items[j]!))
          return runChunks(
            chunks,
            (start, end) => packBlsChunk(items, start, end),
            (start, chunkVerdicts) => {
              for (let j = 0; j < chunkVerdicts.length; j++) verdicts[start + j] = chunkVerdicts[j] === 1
            }
          ).pipe(Effect.as(verdicts))
        })

      return {
        size,
        verifyMany,
        verifyAggregates,
        liveWorkers: Effect.sync(() => state.live),
        restarts: Effect.sync(() => state.restarts)
      }
    })
  )
}
