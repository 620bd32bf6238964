/**
 * The Store on LMDB (`lmdb` package): one environment with a named database per kind of record (layout in
 * keys.ts), canonical BCS bytes as values. Every write is one LMDB transaction — checked by the shared
 * planners of plan.ts against the state *inside* that transaction, then applied — so after a crash
 * (even `kill -9` mid-commit) a reopened store shows each batch entirely or not at all. Writes use lmdb's
 * asynchronous abortable (child) transactions: the commit and its disk flush run on lmdb's writer
 * thread, not on the event loop that serves the network. Reads are synchronous cursor/point reads on
 * one read snapshot per call.
 *
 * Closing the layer's scope waits for pending commits and their flush, then closes the environment.
 * One process at a time: a lock file in the directory keeps a second node off a store in use.
 */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { Effect, Either, Layer, Option, type Scope } from "effect"
import { open, type Database, type RootDatabase } from "lmdb"
import type { VerifiedBlock } from "../../domain/block.js"
import { encodeBcs } from "../../domain/codec.js"
import type { VerifiedCommit } from "../../domain/commit.js"
import { encodeCommittee, type Committee } from "../../domain/committee.js"
import { BlockRefBcs, type BlockRef } from "../../domain/refs.js"
import { Store, StoreError, type CommitVote, type StoreInconsistency, type StoreService, type Watermarks } from "../../services/Store.js"
import { assembleSubDag } from "./assemble.js"
import { DB_NAMES, MAX_U32, META, prefixEnd, u32Key, u64Key, voteKey, type DbName } from "./keys.js"
import {
  clampLimit,
  executorKeyBytes,
  GENESIS_TIP,
  planBlocks,
  planCheckpoint,
  planCommits,
  planCommittee,
  planExecution,
  votesOf,
  type StoreView,
  type Tip
} from "./plan.js"
import { LOCK_FILE, lockStore } from "./processLock.js"
import { SHUTDOWN_STEP_WARNING_MS, warnIfSlow } from "../status/slowWarning.js"
import {
  decodeCheckpoint,
  decodeNumber,
  decodeStoredBlock,
  decodeStoredBlockRef,
  decodeStoredCommit,
  decodeStoredCommittee,
  decodeTip,
  encodeCheckpoint,
  encodeTip,
  plainBytes,
  STORE_FORMAT
} from "./records.js"

type Db = Database<Uint8Array, Uint8Array>

interface Env {
  readonly root: RootDatabase<Uint8Array, Uint8Array>
  readonly db: Readonly<Record<DbName, Db>>
}

/** Carries a typed error out of a synchronous LMDB callback (a read helper or a transaction body). */
class Thrown {
  constructor(readonly error: StoreError | StoreInconsistency) {}
}

const orThrow = <A>(result: Either.Either<A, StoreError | StoreInconsistency>): A => {
  if (Either.isLeft(result)) throw new Thrown(result.left)
  return result.right
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const toStoreError = (operation: string, cause: unknown): StoreError =>
  cause instanceof Thrown && cause.error._tag === "StoreError"
    ? cause.error
    : new StoreError({ operation, detail: cause instanceof Thrown ? cause.error.message : describe(cause), cause })

const utf8 = new TextDecoder()

/** A write transaction takes milliseconds (one fsync); one pending this long is logged (see warnIfSlow). */
const SLOW_WRITE_WARNING_MS = 3_000

/** The environment's options. Crash safety rests on these; see docs/decisions.md "## Store". */
const ENV_OPTIONS = {
  encoding: "binary",
  keyEncoding: "binary",
  // Never skip the fsync of a commit. Keep the map read-only to the process: a stray native write
  // cannot corrupt it, and abortable child transactions (how refusals abort) need it.
  noSync: false,
  useWritemap: false,
  // lmdb's default on Linux: the flush runs after the commit, off the writer lock. Atomicity is
  // unchanged (the meta page of an unflushed commit is only trusted within the same boot).
  overlappingSync: true,
  compression: false,
  cache: false,
  maxDbs: 12
} as const

const openEnv = (path: string): Effect.Effect<Env, StoreError> =>
  Effect.try({
    try: () => {
      const root = open<Uint8Array, Uint8Array>({ path, ...ENV_OPTIONS })
      try {
        const db = {} as Record<DbName, Db>
        for (const name of DB_NAMES) db[name] = root.openDB<Uint8Array, Uint8Array>({ name, encoding: "binary", keyEncoding: "binary" })
        // A store written by another layout version must not be misread: refuse it at open.
        const format = root.transactionSync(() => {
          const stored = db.meta.getBinary(META.format)
          if (stored === undefined) db.meta.putSync(META.format, u32Key(STORE_FORMAT))
          return stored === undefined ? STORE_FORMAT : orThrow(decodeNumber("format", stored))
        })
        if (format !== STORE_FORMAT)
          throw new Thrown(new StoreError({ operation: "open", detail: `${path} has store format ${format}, expected ${STORE_FORMAT}` }))
        return { root, db }
      } catch (error) {
        root.close().catch(() => undefined) // already failing: the open error is the one to report
        throw error
      }
    },
    catch: (cause) => toStoreError("open", cause)
  })

const closeEnv = (env: Env): Effect.Effect<void> =>
  Effect.tryPromise({
    try: async () => {
      await env.root.committed
      await env.root.flushed
      await env.root.close()
    },
    catch: (cause) => new StoreError({ operation: "close", detail: describe(cause), cause })
  }).pipe(Effect.catchAll((error) => Effect.logError("closing the LMDB store failed", error)))

/** A store on an open environment. */
const storeOn = (env: Env): StoreService => {
  const { db } = env
  const get = (name: DbName, key: Uint8Array): Uint8Array | undefined => {
    const value = db[name].getBinary(key)
    return value === undefined ? undefined : plainBytes(value)
  }

  const readTip = (): Tip => {
    const bytes = get("meta", META.tip)
    return bytes === undefined ? GENESIS_TIP : orThrow(decodeTip(bytes))
  }
  const readNumber = (key: Uint8Array, what: string, absent: number): number => {
    const bytes = get("meta", key)
    return bytes === undefined ? absent : orThrow(decodeNumber(what, bytes))
  }
  const readBlock = (digest: Uint8Array): VerifiedBlock | undefined => {
    const bytes = get("blocks", digest)
    return bytes === undefined ? undefined : orThrow(decodeStoredBlock(digest, bytes))
  }
  const readCommit = (index: number): VerifiedCommit | undefined => {
    if (!Number.isInteger(index) || index < 0 || index > MAX_U32) return undefined
    const bytes = get("commits", u32Key(index))
    return bytes === undefined ? undefined : orThrow(decodeStoredCommit(bytes))
  }
  const readCommittee = (epoch: number): Committee | undefined => {
    if (!Number.isSafeInteger(epoch) || epoch < 0) return undefined
    const bytes = get("committees", u64Key(epoch))
    return bytes === undefined ? undefined : orThrow(decodeStoredCommittee(bytes))
  }
  const readBlocks = (refs: ReadonlyArray<{ readonly digest: Uint8Array }>): ReadonlyArray<VerifiedBlock> =>
    refs.flatMap((ref) => {
      const block = readBlock(ref.digest)
      return block === undefined ? [] : [block]
    })
  const readWatermarks = (): Watermarks => {
    const tip = readTip()
    return {
      highestSyncedCommit: tip.index,
      highestSyncedDigest: tip.digest,
      nextEpoch: tip.epoch,
      lowestAvailableCommit: readNumber(META.lowestAvailable, "lowestAvailable", 1)
    }
  }

  const view: StoreView = {
    tip: readTip,
    hasBlock: (digest) => db.blocks.doesExist(digest),
    getBlock: readBlock,
    getCommittee: readCommittee,
    commitDigest: (index) => readCommit(index)?.ref.digest,
    checkpoint: () => {
      const bytes = get("meta", META.checkpoint)
      return bytes === undefined ? undefined : orThrow(decodeCheckpoint(bytes))
    },
    executorWatermark: () => readNumber(META.executorWatermark, "executorWatermark", 0)
  }

  /** Synchronous reads; all of one call see one snapshot (lmdb renews its read txn between event turns). */
  const read = <A>(operation: string, f: () => A): Effect.Effect<A, StoreError> =>
    Effect.try({ try: f, catch: (cause) => toStoreError(operation, cause) })

  /**
   * One atomic write: `body` plans against the state inside the transaction and applies the plan, or
   * returns a refusal — thrown out of the callback so that lmdb aborts the (child) transaction.
   */
  const transact = <A>(operation: string, body: () => Either.Either<A, StoreInconsistency>): Effect.Effect<A, StoreError | StoreInconsistency> =>
    Effect.tryPromise({
      try: () => env.root.childTransaction(() => orThrow(body())),
      catch: (cause) => (cause instanceof Thrown ? cause.error : new StoreError({ operation, detail: describe(cause), cause }))
    }).pipe(warnIfSlow(`LMDB write ${operation}`, SLOW_WRITE_WARNING_MS))

  const putBlocks = (blocks: ReadonlyArray<VerifiedBlock>): void => {
    for (const block of blocks) {
      db.blocks.putSync(block.ref.digest, block.bytes)
      for (const vote of votesOf(block))
        db.votes.putSync(voteKey(vote.commit.index, vote.commit.digest, block.ref.digest), encodeBcs(BlockRefBcs, vote.voter))
    }
  }
  const putCommittees = (committees: ReadonlyArray<Committee>): void => {
    for (const committee of committees) db.committees.putSync(u64Key(committee.epoch), encodeCommittee(committee))
  }

  return {
    watermarks: read("watermarks", readWatermarks),
    getBlocks: (refs) => read("getBlocks", () => readBlocks(refs)),
    getBlockBytes: (refs) =>
      read("getBlockBytes", () =>
        refs.flatMap((ref) => {
          const bytes = get("blocks", ref.digest)
          return bytes === undefined ? [] : [bytes]
        })
      ),
    getCommit: (index) => read("getCommit", () => Option.fromNullable(readCommit(index))),
    scanCommits: (from, to, limit) =>
      read("scanCommits", () => {
        const start = Math.max(0, Math.ceil(from))
        const end = Math.floor(to)
        const max = clampLimit(limit)
        if (start > MAX_U32 || end < start || max === 0) return []
        const range = db.commits.getRange({ start: u32Key(start), ...(end >= MAX_U32 ? {} : { end: u32Key(end + 1) }), limit: max })
        return Array.from(range, ({ value }) => orThrow(decodeStoredCommit(plainBytes(value))))
      }),
    commitSubDag: (index) =>
      read("commitSubDag", () => {
        const commit = readCommit(index)
        return commit === undefined ? Option.none() : Option.some(orThrow(assembleSubDag(commit, readBlocks(commit.commit.blocks))))
      }),
    getCommittee: (epoch) => read("getCommittee", () => Option.fromNullable(readCommittee(epoch))),
    lastCommitOfEpoch: (epoch) =>
      read("lastCommitOfEpoch", () => {
        if (!Number.isSafeInteger(epoch) || epoch < 0) return Option.none()
        const bytes = get("epochEnds", u64Key(epoch))
        return bytes === undefined ? Option.none() : Option.some(orThrow(decodeNumber("epochEnds", bytes)))
      }),
    commitVotes: (index, limit) =>
      read("commitVotes", () => {
        const max = clampLimit(limit)
        if (!Number.isInteger(index) || index < 0 || index > MAX_U32 || max === 0) return []
        const range = db.votes.getRange({ start: u32Key(index), ...(index === MAX_U32 ? {} : { end: u32Key(index + 1) }), limit: max })
        return Array.from(range, ({ key, value }): CommitVote => {
          const voter: BlockRef = orThrow(decodeStoredBlockRef(plainBytes(value)))
          return { commit: { index, digest: key.slice(4, 36) }, voter }
        })
      }),

    initialise: (checkpoint) =>
      transact("initialise", () =>
        Either.map(planCheckpoint(view, checkpoint), (plan) => {
          if (plan._tag !== "Unchanged") db.meta.putSync(META.checkpoint, encodeCheckpoint(plan.record))
          if (plan._tag === "Start") {
            if (plan.committee !== undefined) putCommittees([plan.committee])
            db.meta.putSync(META.tip, encodeTip(plan.tip))
            db.meta.putSync(META.lowestAvailable, u32Key(plan.lowestAvailable))
          }
          return readWatermarks()
        })
      ),
    putCommittee: (committee) =>
      transact("putCommittee", () =>
        Either.map(planCommittee(view, committee), (fresh) => {
          if (fresh !== undefined) putCommittees([fresh])
        })
      ),
    writeBlocks: (blocks) =>
      transact("writeBlocks", () => Either.right(putBlocks(planBlocks(view, blocks)))).pipe(
        // writeBlocks plans nothing that can be refused; a refusal here would be a bug.
        Effect.catchTag("StoreInconsistency", (e) => Effect.die(e))
      ),
    writeCommits: (batch, options) =>
      transact("writeCommits", () =>
        Either.map(planCommits(view, batch, options?.extraBlocks ?? []), (plan) => {
          putBlocks(plan.blocks)
          putCommittees(plan.committees)
          for (const commit of plan.commits) db.commits.putSync(u32Key(commit.commit.index), commit.bytes)
          for (const end of plan.epochEnds) db.epochEnds.putSync(u64Key(end.epoch), u32Key(end.lastCommit))
          db.meta.putSync(META.tip, encodeTip(plan.tip))
          return readWatermarks()
        })
      ),

    executorWatermark: read("executorWatermark", view.executorWatermark),
    executorState: (key) =>
      read("executorState", () => {
        const bytes = Either.getOrUndefined(executorKeyBytes(key))
        return Option.fromNullable(bytes === undefined ? undefined : get("executor", bytes))
      }),
    scanExecutorState: (prefix, limit, startAfter) =>
      read("scanExecutorState", () => {
        const max = clampLimit(limit)
        if (max === 0) return []
        const prefixBytes = Buffer.from(prefix, "utf8")
        const afterBytes = startAfter === undefined ? undefined : Buffer.from(startAfter, "utf8")
        const startAfterPrefix = afterBytes !== undefined && Buffer.compare(afterBytes, prefixBytes) >= 0
        const end = prefixEnd(prefixBytes)
        const range = db.executor.getRange({
          ...(startAfterPrefix ? { start: afterBytes, exclusiveStart: true } : prefixBytes.length > 0 ? { start: prefixBytes } : {}),
          ...(end === undefined ? {} : { end }),
          limit: max
        })
        return Array.from(range, ({ key, value }) => [utf8.decode(key), plainBytes(value)] as const)
      }),
    writeExecution: (write) =>
      transact("writeExecution", () =>
        Either.map(planExecution(view, write), ({ watermark, puts, deletes }) => {
          for (const key of deletes) db.executor.removeSync(Buffer.from(key, "utf8"))
          for (const [key, value] of puts) db.executor.putSync(Buffer.from(key, "utf8"), value)
          db.meta.putSync(META.executorWatermark, u32Key(watermark))
        })
      )
  }
}

const makeDirectory = (path: string): Effect.Effect<void, StoreError> =>
  Effect.try({ try: () => void mkdirSync(path, { recursive: true }), catch: (cause) => toStoreError("open", cause) })

/**
 * An LMDB Store at `path` (a directory, created if needed), open for the life of the scope — and by
 * this process alone: a second opener, in this process or another, fails with a StoreError naming the
 * holder's pid (processLock.ts). The lock is taken before the environment opens and released after it
 * closes (scope finalizers run in reverse).
 */
export const makeLmdbStore = (path: string): Effect.Effect<StoreService, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* makeDirectory(path)
    yield* lockStore(path, join(path, LOCK_FILE))
    return storeOn(yield* Effect.acquireRelease(openEnv(path), (env) => warnIfSlow("shutdown: closing the LMDB store", SHUTDOWN_STEP_WARNING_MS)(closeEnv(env))))
  })

/** The LMDB Store as a layer; closing its scope flushes and closes the environment, then releases the lock. */
export const LmdbStoreLayer = (path: string): Layer.Layer<Store, StoreError> => Layer.scoped(Store, makeLmdbStore(path))
