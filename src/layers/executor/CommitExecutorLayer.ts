/**
 * `CommitExecutorLayer`: the reference executor (DESIGN.md §8). One supervised fiber, forked in the
 * layer's scope, reads the executor watermark `w` from the store and consumes `StateSync.commits(w + 1)`;
 * each hand-over of the stream (≤ 64 commits when catching up, 1 when live) is executed by the pure
 * state machine and recorded in ONE `writeExecution` — effects, state changes, executed digests,
 * epoch changes and the new watermark together. All state lives in the store, so a crash at any point
 * leaves either the whole batch or none of it, and a restart resumes at the stored watermark: nothing
 * executed twice, nothing skipped. A failing attempt is logged and retried from the stored watermark
 * with backoff. Closing the scope lets the write in flight finish, then stops the fiber.
 */
import { Cause, Chunk, Effect, Either, Exit, Layer, Option, PubSub, Queue, Ref, Stream, type Scope } from "effect"
import { bytesEqual } from "../../domain/bytes.js"
import type { CommittedSubDag } from "../../domain/commit.js"
import {
  CommitExecutor,
  ConcurrentExecutor,
  ExecutionOutOfOrder,
  GenesisMismatch,
  type CommitExecutorService,
  type ExecutedCommit,
  type ExecutorGenesis,
  type ExecutorStateCorrupt
} from "../../services/CommitExecutor.js"
import { StateSync } from "../../services/StateSync.js"
import { Store, type StoreError, type StoreInconsistency, type StoreService } from "../../services/Store.js"
import { MAX_COMMITS_PER_WRITE, MAX_TRANSACTIONS_PER_WRITE, NOTIFICATION_CAPACITY, RESTART_BACKOFF_BASE_MS, RESTART_BACKOFF_MAX_MS } from "./constants.js"
import { genesisDigest, genesisPuts } from "./genesis.js"
import { balanceKey, decodeEffects, decodeEpochRecord, decodeNumber, decodeShared, doneKey, effectsKey, epochKey, META, PREFIX, sharedKey } from "./records.js"
import { computeStateDigest } from "./stateDigest.js"
import { executeBatch, extractCommit, keysToRead } from "./stateMachine.js"

/** Configuration of the executor. */
export interface CommitExecutorConfig {
  /** The state before commit 1; checked against the store's on every start. */
  readonly genesis: ExecutorGenesis
}

/** A fresh store gets the genesis state; a used one must have been started from the same genesis. */
const initialise = (store: StoreService, genesis: ExecutorGenesis) =>
  Effect.gen(function* () {
    const expected = yield* genesisDigest(genesis)
    const stored = yield* store.executorState(META.genesis)
    if (Option.isSome(stored)) {
      if (!bytesEqual(stored.value, expected)) return yield* new GenesisMismatch({ detail: "the store was started from another genesis" })
      return
    }
    if ((yield* store.executorWatermark) > 0) return yield* new GenesisMismatch({ detail: "the store has executed commits but no genesis record" })
    yield* store.writeExecution({ watermark: 0, expectedWatermark: 0, puts: yield* genesisPuts(genesis), deletes: [] })
  })

const transactionCount = (subDag: CommittedSubDag): number => subDag.blocks.reduce((n, b) => n + b.signed.block.transactions.length, 0)

/** Cuts a hand-over into writes of ≤ MAX_COMMITS_PER_WRITE commits and about MAX_TRANSACTIONS_PER_WRITE transactions. */
const groupsOf = (subDags: Chunk.Chunk<CommittedSubDag>): ReadonlyArray<ReadonlyArray<CommittedSubDag>> => {
  const groups: Array<Array<CommittedSubDag>> = []
  let current: Array<CommittedSubDag> = []
  let transactions = 0
  for (const subDag of subDags) {
    const n = transactionCount(subDag)
    if (current.length > 0 && (current.length >= MAX_COMMITS_PER_WRITE || transactions + n > MAX_TRANSACTIONS_PER_WRITE)) {
      groups.push(current)
      current = []
      transactions = 0
    }
    current.push(subDag)
    transactions += n
  }
  if (current.length > 0) groups.push(current)
  return groups
}

const backoffMs = (failures: number): number => Math.min(RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 20))

const make = (
  config: CommitExecutorConfig
): Effect.Effect<CommitExecutorService, StoreError | StoreInconsistency | GenesisMismatch, Store | StateSync | Scope.Scope> =>
  Effect.gen(function* () {
    const store = yield* Store
    const sync = yield* StateSync
    yield* initialise(store, config.genesis)
    const notifications = yield* Effect.acquireRelease(PubSub.sliding<ExecutedCommit>(NOTIFICATION_CAPACITY), PubSub.shutdown)
    // Held by each write and by `stateDigest`, so a digest never mixes two watermarks.
    const writeLock = yield* Effect.makeSemaphore(1)

    /** Executes consecutive commits and records them in one write; commits already executed are dropped. */
    const executeGroup = (subDags: ReadonlyArray<CommittedSubDag>) =>
      writeLock.withPermits(1)(
        Effect.gen(function* () {
          const watermark = yield* store.executorWatermark
          const pending = subDags.filter((s) => s.commitRef.index > watermark)
          const first = pending[0]
          if (first === undefined) return
          for (let i = 0; i < pending.length; i++) {
            const index = (pending[i] as CommittedSubDag).commitRef.index
            if (index !== watermark + 1 + i) return yield* new ExecutionOutOfOrder({ index, detail: `expected commit ${watermark + 1 + i}` })
          }
          const commits = pending.map(extractCommit)
          const values = new Map<string, Uint8Array>()
          for (const key of keysToRead(commits)) {
            const value = yield* store.executorState(key)
            if (Option.isSome(value)) values.set(key, value.value)
          }
          const plan = yield* executeBatch((key) => values.get(key), commits)
          const last = (pending[pending.length - 1] as CommittedSubDag).commitRef.index
          // Compare-and-set: recorded only over the watermark the batch was computed from. Another
          // executor on this store (which the write lock does not see) makes it refuse; never a second record.
          yield* store.writeExecution({ watermark: last, expectedWatermark: watermark, puts: plan.puts, deletes: plan.deletes }).pipe(
            Effect.catchTag("StoreInconsistency", (error): Effect.Effect<never, StoreInconsistency | ConcurrentExecutor> =>
              error.reason === "ExecutorWatermarkMoved" ? Effect.fail(new ConcurrentExecutor({ expected: watermark, detail: error.detail })) : Effect.fail(error)
            )
          )
          yield* PubSub.publishAll(notifications, plan.executed)
        })
      ).pipe(
        // A write handed to the store may happen anyway; finishing it keeps shutdown simple and exact.
        Effect.uninterruptible
      )

    const runFromWatermark = Effect.gen(function* () {
      const watermark = yield* store.executorWatermark
      yield* sync.commits(watermark + 1).pipe(Stream.runForEachChunk((chunk) => Effect.forEach(groupsOf(chunk), executeGroup, { discard: true })))
    })

    const halted = yield* Ref.make(Option.none<ConcurrentExecutor>())

    // Supervision: every failure restarts from the stored watermark (nothing in memory to lose);
    // the backoff grows only while no commit gets executed. Except another executor on the store:
    // restarting would only race it again, so this one stops and says why (`halted`).
    const supervised = Effect.gen(function* () {
      let failures = 0
      for (;;) {
        const before = yield* Effect.either(store.executorWatermark)
        const exit = yield* Effect.exit(runFromWatermark)
        const concurrent = Exit.isFailure(exit)
          ? Option.filter(Cause.failureOption(exit.cause), (e): e is ConcurrentExecutor => e._tag === "ConcurrentExecutor")
          : Option.none()
        if (Option.isSome(concurrent)) {
          yield* Ref.set(halted, concurrent)
          return yield* Effect.logError("commit executor stopped: another executor writes to this store", concurrent.value)
        }
        const after = yield* Effect.either(store.executorWatermark)
        const progressed = Either.isRight(before) && Either.isRight(after) && after.right > before.right
        failures = progressed ? 1 : failures + 1
        const delay = backoffMs(failures)
        if (Exit.isFailure(exit)) yield* Effect.logError(`commit executor failed; restarting from its watermark in ${delay} ms`, exit.cause)
        else yield* Effect.logWarning(`the commit stream ended; restarting from the executor watermark in ${delay} ms`)
        yield* Effect.sleep(delay)
      }
    })
    yield* Effect.forkScoped(supervised)

    const readValue = <A>(key: string, decode: (key: string, bytes: Uint8Array) => Either.Either<A, ExecutorStateCorrupt>) =>
      Effect.flatMap(store.executorState(key), (value) =>
        Option.match(value, {
          onNone: () => Effect.succeed(Option.none<A>()),
          onSome: (bytes) => Effect.map(decode(key, bytes), Option.some)
        })
      )

    const service: CommitExecutorService = {
      highestExecuted: store.executorWatermark,
      epoch: Effect.map(readValue(META.epoch, decodeNumber), Option.getOrElse(() => config.genesis.committee.epoch)),
      epochRecord: (epoch) => readValue(epochKey(epoch), decodeEpochRecord),
      balance: (account) => Effect.map(readValue(balanceKey(account), decodeNumber), Option.getOrElse(() => 0)),
      sharedValue: (key) => readValue(sharedKey(key), decodeShared),
      effects: (txDigest) =>
        Effect.flatMap(readValue(doneKey(txDigest), decodeNumber), (sequence) =>
          Option.match(sequence, {
            onNone: () => Effect.succeed(Option.none()),
            onSome: (n) => readValue(effectsKey(n), decodeEffects)
          })
        ),
      effectsLog: (fromSequence, limit) =>
        Effect.flatMap(
          store.scanExecutorState(PREFIX.effects, limit, ...(fromSequence > 0 ? [effectsKey(Math.floor(fromSequence) - 1)] : [])),
          (entries) => Effect.forEach(entries, ([key, bytes]) => decodeEffects(key, bytes))
        ),
      stateDigest: writeLock.withPermits(1)(
        Effect.all({ highestExecuted: store.executorWatermark, digest: computeStateDigest(store) })
      ),
      subscribe: Stream.fromPubSub(notifications, { scoped: true }),
      halted: Ref.get(halted),
      awaitExecuted: (index) =>
        Effect.scoped(
          Effect.gen(function* () {
            // Subscribe before reading the watermark, so an execution in between is not missed.
            const queue = yield* PubSub.subscribe(notifications)
            if ((yield* store.executorWatermark) >= index) return
            for (;;) if ((yield* Queue.take(queue)).index >= index) return
          })
        )
    }
    return service
  })

/** The reference executor over the node's store and commit stream, starting from `config.genesis`. */
export const CommitExecutorLayer = (
  config: CommitExecutorConfig
): Layer.Layer<CommitExecutor, StoreError | StoreInconsistency | GenesisMismatch, Store | StateSync> => Layer.scoped(CommitExecutor, make(config))

/** The executor without a Layer (tests that wire services by hand). */
export const makeCommitExecutor = make
