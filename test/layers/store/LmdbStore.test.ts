import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option } from "effect"
import { open } from "lmdb"
import { toHex } from "../../../src/domain/bytes.js"
import { LmdbStoreLayer } from "../../../src/layers/store/LmdbStoreLayer.js"
import { META, u32Key } from "../../../src/layers/store/keys.js"
import { Store } from "../../../src/services/Store.js"
import { CHAIN, commitAt, commits, subDagSummary } from "./storeContract.js"
import { storeContract } from "./storeContract.js"

const root = mkdtempSync(join(tmpdir(), "soma-store-test-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let counter = 0
const freshPath = () => join(root, `store-${counter++}`)

storeContract("lmdb", () => LmdbStoreLayer(freshPath()))

/** Everything observable in a store, as plain data (to compare a store before and after reopening). */
const snapshot = Effect.gen(function* () {
  const store = yield* Store
  const w = yield* store.watermarks
  const subDags = []
  for (let i = 1; i <= w.highestSyncedCommit; i++) subDags.push(subDagSummary(Option.getOrThrow(yield* store.commitSubDag(i))))
  const epochs = []
  for (let e = 0; e <= w.nextEpoch; e++)
    epochs.push({
      committee: Option.map(yield* store.getCommittee(e), (c) => c.authorities.map((a) => toHex(a.protocolKey))),
      last: yield* store.lastCommitOfEpoch(e)
    })
  const votes = []
  for (let i = 1; i <= w.highestSyncedCommit + 1; i++) votes.push((yield* store.commitVotes(i, 100)).map((v) => toHex(v.voter.digest)))
  return {
    watermarks: { ...w, highestSyncedDigest: toHex(w.highestSyncedDigest) },
    subDags,
    epochs,
    votes,
    executor: { watermark: yield* store.executorWatermark, state: (yield* store.scanExecutorState("", 100)).map(([k, v]) => [k, toHex(v)]) }
  }
})

describe("LmdbStoreLayer", () => {
  it.effect("reopening the same path gives the same state", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const before = yield* Effect.gen(function* () {
        const store = yield* Store
        yield* store.putCommittee(commitAt(1).committee)
        yield* store.writeCommits(commits(1, 4))
        yield* store.writeCommits(commits(5, 7), { extraBlocks: commitAt(7).certifierBlocks })
        yield* store.writeExecution({ watermark: 6, puts: [["a", Uint8Array.of(1)], ["b", Uint8Array.of(2, 3)]], deletes: [] })
        return yield* snapshot
      }).pipe(Effect.provide(LmdbStoreLayer(path)))
      expect(before.watermarks.highestSyncedCommit).toBe(7)

      const after = yield* snapshot.pipe(Effect.provide(LmdbStoreLayer(path)))
      expect(after).toEqual(before)

      // And it carries on from there.
      const resumed = yield* Effect.gen(function* () {
        const store = yield* Store
        return yield* store.writeCommits(commits(8, 10))
      }).pipe(Effect.provide(LmdbStoreLayer(path)))
      expect(resumed.highestSyncedCommit).toBe(CHAIN.length)
    }))

  it.effect("refuses to open a store of another layout version", () =>
    Effect.gen(function* () {
      const path = freshPath()
      yield* Effect.provide(Effect.void, LmdbStoreLayer(path))
      yield* Effect.promise(async () => {
        const env = open({ path, encoding: "binary", keyEncoding: "binary" })
        const meta = env.openDB({ name: "meta", encoding: "binary", keyEncoding: "binary" })
        await meta.put(META.format, u32Key(99))
        await env.close()
      })
      const exit = yield* Effect.exit(Layer.build(LmdbStoreLayer(path)).pipe(Effect.scoped))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(String(exit.cause)).toContain("store format 99")
    }))

  it.effect("a path that cannot be opened is a StoreError, not a defect", () =>
    Effect.gen(function* () {
      const file = join(root, "a-file")
      writeFileSync(file, "not a directory")
      const error = yield* Effect.flip(Layer.build(LmdbStoreLayer(join(file, "store"))).pipe(Effect.scoped))
      expect(error._tag).toBe("StoreError")
    }))
})
