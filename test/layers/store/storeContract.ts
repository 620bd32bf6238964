/**
 * The behaviour every Store layer must have, as one suite run against each layer (memory, LMDB):
 * round-trips, atomic refusal of bad batches, gaps, epoch bookkeeping, commit votes, bounded scans,
 * checkpoints and the executor area. Each test gets a fresh, empty store from `fresh()`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, type Layer } from "effect"
import * as fc from "fast-check"
import type { VerifiedBlock } from "../../../src/domain/block.js"
import { toHex } from "../../../src/domain/bytes.js"
import { committedSubDag, encodeCommit, markVerifiedCommit, type Commit, type CommittedSubDag } from "../../../src/domain/commit.js"
import { ZERO_DIGEST } from "../../../src/domain/primitives.js"
import { ChainGenerator, type GeneratedCommit } from "../../../src/testkit/chain.js"
import { MAX_EXECUTOR_KEY_BYTES, Store, type StoreError, type StoreInconsistency } from "../../../src/services/Store.js"

/** 10 commits over 4 epochs (3 commits per epoch) from 4 validators: small enough to make in ~30 ms. */
export const CHAIN: ReadonlyArray<GeneratedCommit> = new ChainGenerator({
  seed: 7,
  validators: 4,
  commitsPerEpoch: 3,
  transactionsPerBlock: 2
}).take(10)

/** Commit `index` (1-based) of the test chain. */
export const commitAt = (index: number): GeneratedCommit => CHAIN[index - 1] as GeneratedCommit
/** Commits `from..to` (inclusive) of the test chain. */
export const commits = (from: number, to: number): ReadonlyArray<GeneratedCommit> => CHAIN.slice(from - 1, to)

const hexOf = (bytes: Uint8Array) => toHex(bytes)
const blockIds = (blocks: ReadonlyArray<VerifiedBlock>) => blocks.map((b) => hexOf(b.bytes))

/** What must survive a round-trip of a sub-DAG: its ref, link, epoch and blocks (bytes and refs) in order. */
export const subDagSummary = (subDag: CommittedSubDag) => ({
  commitRef: { index: subDag.commitRef.index, digest: hexOf(subDag.commitRef.digest) },
  commitBytes: hexOf(subDag.commit.bytes),
  previousDigest: hexOf(subDag.previousDigest),
  leader: hexOf(subDag.leader.digest),
  epoch: subDag.epoch,
  timestampMs: subDag.timestampMs,
  blocks: subDag.blocks.map((b) => ({ bytes: hexOf(b.bytes), digest: hexOf(b.ref.digest), round: b.ref.round, author: b.ref.author, epoch: b.ref.epoch }))
})

/** A copy of commit `index` with one field changed (new bytes, new digest), keeping its blocks. */
const tampered = (index: number, change: (c: Commit) => Commit): CommittedSubDag => {
  const original = commitAt(index).subDag
  const commit = change(original.commit.commit)
  return committedSubDag(markVerifiedCommit(commit, encodeCommit(commit)), original.blocks)
}

const refusal = <A>(effect: Effect.Effect<A, StoreError | StoreInconsistency, Store>) =>
  Effect.map(Effect.flip(effect), (error) => (error._tag === "StoreInconsistency" ? error.reason : `StoreError: ${error.detail}`))

/** Puts the epoch-0 committee (the genesis trust root) and writes commits `1..to` in one batch. */
const genesisThen = (to: number) =>
  Effect.gen(function* () {
    const store = yield* Store
    yield* store.putCommittee(commitAt(1).committee)
    if (to > 0) yield* store.writeCommits(commits(1, to))
    return store
  })

/** Runs the Store contract against the layer that `fresh` builds (a new empty store per call). */
export const storeContract = (label: string, fresh: () => Layer.Layer<Store, StoreError>) =>
  describe(`Store contract (${label})`, () => {
    const run = <A, E>(body: Effect.Effect<A, E, Store>) => body.pipe(Effect.provide(fresh()))

    it.effect("an empty store is at genesis", () =>
      run(
        Effect.gen(function* () {
          const store = yield* Store
          const w = yield* store.watermarks
          expect({ ...w, highestSyncedDigest: hexOf(w.highestSyncedDigest) }).toEqual({
            highestSyncedCommit: 0,
            highestSyncedDigest: hexOf(ZERO_DIGEST),
            nextEpoch: 0,
            lowestAvailableCommit: 1
          })
          expect(Option.isNone(yield* store.getCommit(1))).toBe(true)
          expect(Option.isNone(yield* store.commitSubDag(1))).toBe(true)
          expect(Option.isNone(yield* store.getCommittee(0))).toBe(true)
          expect(yield* store.scanCommits(0, 100, 100)).toEqual([])
          expect(yield* store.commitVotes(1, 100)).toEqual([])
          expect(yield* store.executorWatermark).toBe(0)
        })
      ))

    it.effect("commits, blocks and committees round-trip through the store", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(0)
          const w = yield* store.writeCommits(commits(1, 5))
          expect(w.highestSyncedCommit).toBe(5)
          expect(hexOf(w.highestSyncedDigest)).toBe(hexOf(commitAt(5).subDag.commitRef.digest))
          for (const c of commits(1, 5)) {
            const index = c.subDag.commitRef.index
            const commit = Option.getOrThrow(yield* store.getCommit(index))
            expect(hexOf(commit.bytes)).toBe(hexOf(c.subDag.commit.bytes))
            expect(hexOf(commit.ref.digest)).toBe(hexOf(c.subDag.commitRef.digest))
            expect(commit.commit).toEqual(c.subDag.commit.commit)
            const subDag = Option.getOrThrow(yield* store.commitSubDag(index))
            expect(subDagSummary(subDag)).toEqual(subDagSummary(c.subDag))
            // Blocks come back whole: decoded block, signature, bytes, ref.
            const blocks = yield* store.getBlocks(c.subDag.blocks.map((b) => b.ref))
            expect(blocks.map((b) => b.signed)).toEqual(c.subDag.blocks.map((b) => b.signed))
            expect(blocks.map((b) => b.ref)).toEqual(c.subDag.blocks.map((b) => b.ref))
          }
          expect(Option.getOrThrow(yield* store.getCommittee(0))).toEqual(commitAt(1).committee)
          expect(Option.isNone(yield* store.getCommit(6))).toBe(true)
        })
      ))

    it.effect("getBlocks leaves out missing refs and keeps the order asked", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(3)
          const stored = commitAt(3).subDag.blocks
          const missing = commitAt(6).subDag.blocks
          const asked = [missing[0]!, stored[1]!, missing[1]!, stored[0]!, stored[1]!].map((b) => b.ref)
          const found = yield* store.getBlocks(asked)
          expect(blockIds(found)).toEqual(blockIds([stored[1]!, stored[0]!, stored[1]!]))
          expect(yield* store.getBlocks([])).toEqual([])
          expect(yield* store.getBlocks(missing.map((b) => b.ref))).toEqual([])
        })
      ))

    it.effect("refuses gaps, replays and broken hash chains, and changes nothing", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(2)
          expect(yield* refusal(store.writeCommits(commits(4, 4)))).toBe("CommitGap")
          expect(yield* refusal(store.writeCommits(commits(2, 3)))).toBe("CommitAlreadyStored")
          expect(yield* refusal(store.writeCommits(commits(3, 3).concat(commits(5, 5))))).toBe("CommitGap")
          const forged = tampered(3, (c) => ({ ...c, previousDigest: commitAt(1).subDag.commitRef.digest }))
          expect(yield* refusal(store.writeCommits([{ subDag: forged }]))).toBe("BrokenHashChain")
          expect((yield* store.watermarks).highestSyncedCommit).toBe(2)
          expect(Option.isNone(yield* store.getCommit(3))).toBe(true)
          // Nothing of the refused batch [3, 5]: not commit 3, not its blocks.
          expect(yield* store.getBlocks(commitAt(3).subDag.blocks.map((b) => b.ref))).toEqual([])
          // The right next commit is still accepted.
          expect((yield* store.writeCommits(commits(3, 3))).highestSyncedCommit).toBe(3)
        })
      ))

    it.effect("a batch with a commit whose block is missing is refused whole", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(2)
          const c4 = commitAt(4).subDag
          const withoutBlock = committedSubDag(c4.commit, c4.blocks.slice(1))
          const batch = [commitAt(3), { subDag: withoutBlock }, commitAt(5)]
          expect(yield* refusal(store.writeCommits(batch, { extraBlocks: commitAt(5).certifierBlocks }))).toBe("MissingBlocks")
          expect((yield* store.watermarks).highestSyncedCommit).toBe(2)
          for (const index of [3, 4, 5]) expect(Option.isNone(yield* store.getCommit(index))).toBe(true)
          const everyBlock = [...commits(3, 5).flatMap((c) => c.subDag.blocks), ...commitAt(5).certifierBlocks]
          expect(yield* store.getBlocks(everyBlock.map((b) => b.ref))).toEqual([])
          expect(yield* store.commitVotes(5, 100)).toEqual([])
          expect(Option.isNone(yield* store.lastCommitOfEpoch(0))).toBe(true)
          expect(Option.isNone(yield* store.getCommittee(1))).toBe(true)
          // A block the sub-DAG omits is fine once it is stored.
          yield* store.writeBlocks([c4.blocks[0]!])
          expect((yield* store.writeCommits(batch)).highestSyncedCommit).toBe(5)
          expect(subDagSummary(Option.getOrThrow(yield* store.commitSubDag(4)))).toEqual(subDagSummary(c4))
        })
      ))

    it.effect("refuses a sub-DAG carrying a block its commit does not list", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(0)
          const c1 = commitAt(1).subDag
          const padded = committedSubDag(c1.commit, [...c1.blocks, commitAt(2).subDag.blocks[0]!])
          expect(yield* refusal(store.writeCommits([{ subDag: padded }]))).toBe("SubDagMismatch")
          expect(yield* store.getBlocks(padded.blocks.map((b) => b.ref))).toEqual([])
        })
      ))

    it.effect("a commit needs the committee of its epoch", () =>
      run(
        Effect.gen(function* () {
          const store = yield* Store
          expect(yield* refusal(store.writeCommits(commits(1, 1)))).toBe("UnknownCommittee")
          const other = commitAt(4).committee
          yield* store.putCommittee(commitAt(1).committee)
          yield* store.putCommittee(commitAt(1).committee) // the same again: fine
          expect(yield* refusal(store.putCommittee({ ...other, epoch: 0 }))).toBe("CommitteeConflict")
          expect(Option.getOrThrow(yield* store.getCommittee(0))).toEqual(commitAt(1).committee)
        })
      ))

    it.effect("epoch boundaries: last commit recorded, next committee installed, epochs enforced", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(0)
          yield* store.writeCommits(commits(1, 2))
          expect((yield* store.watermarks).nextEpoch).toBe(0)
          // One batch across the boundary: 3 closes epoch 0, 4 is the first of epoch 1.
          const w = yield* store.writeCommits(commits(3, 4))
          expect(w.nextEpoch).toBe(1)
          expect(Option.getOrThrow(yield* store.lastCommitOfEpoch(0))).toBe(3)
          expect(Option.getOrThrow(yield* store.getCommittee(1))).toEqual(commitAt(4).committee)
          expect(Option.isNone(yield* store.lastCommitOfEpoch(1))).toBe(true)
          // A commit after 6 (the last of epoch 1) still claiming epoch 1 is refused.
          yield* store.writeCommits(commits(5, 6))
          const stale = tampered(7, (c) => ({ ...c, epoch: 1 }))
          expect(yield* refusal(store.writeCommits([{ subDag: stale }]))).toBe("EpochMismatch")
          yield* store.writeCommits(commits(7, 10))
          const lastCommits: Array<number | undefined> = []
          for (const epoch of [0, 1, 2, 3]) lastCommits.push(Option.getOrUndefined(yield* store.lastCommitOfEpoch(epoch)))
          expect(lastCommits).toEqual([3, 6, 9, undefined])
          for (const epoch of [0, 1, 2, 3]) {
            const expected = CHAIN.find((c) => c.subDag.epoch === epoch)!.committee
            expect(Option.getOrThrow(yield* store.getCommittee(epoch))).toEqual(expected)
          }
          expect((yield* store.watermarks).nextEpoch).toBe(3)
        })
      ))

    it.effect("block bytes are served as stored, in the order asked, missing ones left out", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(0)
          yield* store.writeCommits(commits(1, 3), { extraBlocks: commitAt(3).certifierBlocks })
          const stored = commits(2, 3).flatMap((c) => c.subDag.blocks).reverse()
          const missing = commitAt(5).subDag.blocks[0]!
          const bytes = yield* store.getBlockBytes([stored[0]!.ref, missing.ref, ...stored.slice(1).map((b) => b.ref)])
          expect(bytes.map(hexOf)).toEqual(stored.map((b) => hexOf(b.bytes)))
        })
      ))

    it.effect("commit votes are recorded from every stored block", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(0)
          yield* store.writeCommits(commits(1, 3), { extraBlocks: commitAt(3).certifierBlocks })
          yield* store.writeBlocks(commitAt(4).certifierBlocks)
          yield* store.writeBlocks(commitAt(4).certifierBlocks) // idempotent
          const storedBlocks = [...commits(1, 3).flatMap((c) => c.subDag.blocks), ...commitAt(3).certifierBlocks, ...commitAt(4).certifierBlocks]
          const expected = new Map<number, Set<string>>()
          for (const b of storedBlocks)
            for (const v of b.signed.block.commitVotes) {
              const set = expected.get(v.index) ?? new Set<string>()
              set.add(`${hexOf(v.digest)}/${hexOf(b.ref.digest)}`)
              expected.set(v.index, set)
            }
          for (let index = 1; index <= 5; index++) {
            const votes = yield* store.commitVotes(index, 1000)
            const keys = votes.map((v) => `${hexOf(v.commit.digest)}/${hexOf(v.voter.digest)}`)
            expect(keys).toEqual([...(expected.get(index) ?? [])].sort())
            for (const v of votes) expect(v.commit.index).toBe(index)
          }
          // The certifier blocks of commit 3 vote for it with its digest, from every author.
          const votes3 = yield* store.commitVotes(3, 1000)
          const forCommit3 = votes3.filter((v) => hexOf(v.commit.digest) === hexOf(commitAt(3).subDag.commitRef.digest))
          expect(new Set(forCommit3.map((v) => v.voter.author)).size).toBe(4)
          const voters = yield* store.getBlocks(forCommit3.map((v) => v.voter))
          expect(voters).toHaveLength(forCommit3.length)
          // Bounded.
          expect(yield* store.commitVotes(3, 2)).toEqual(votes3.slice(0, 2))
          expect(yield* store.commitVotes(3, 0)).toEqual([])
        })
      ))

    it.effect("scans are bounded and ordered", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(10)
          const indices = (cs: ReadonlyArray<{ readonly commit: Commit }>) => cs.map((c) => c.commit.index)
          expect(indices(yield* store.scanCommits(1, 10, 3))).toEqual([1, 2, 3])
          expect(indices(yield* store.scanCommits(4, 5, 100))).toEqual([4, 5])
          expect(indices(yield* store.scanCommits(8, 1_000_000, 100))).toEqual([8, 9, 10])
          expect(indices(yield* store.scanCommits(0, 0xffff_ffff, 100))).toHaveLength(10)
          expect(indices(yield* store.scanCommits(0, Number.POSITIVE_INFINITY, 4))).toEqual([1, 2, 3, 4])
          expect(yield* store.scanCommits(1, 10, 0)).toEqual([])
          expect(yield* store.scanCommits(6, 5, 10)).toEqual([])
          expect(yield* store.scanCommits(11, 20, 10)).toEqual([])
          const scanned = yield* store.scanCommits(3, 3, 1)
          expect(hexOf(scanned[0]!.bytes)).toBe(hexOf(commitAt(3).subDag.commit.bytes))
        })
      ))

    it.effect("any split into batches gives the same store", () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 10, maxLength: 10 }), (sizes) =>
            Effect.runPromise(
              run(
                Effect.gen(function* () {
                  const store = yield* genesisThen(0)
                  let next = 1
                  for (const size of sizes) {
                    if (next > 10) break
                    const to = Math.min(10, next + size - 1)
                    yield* store.writeCommits(commits(next, to), { extraBlocks: commitAt(to).certifierBlocks })
                    next = to + 1
                  }
                  expect((yield* store.watermarks).highestSyncedCommit).toBe(10)
                  for (const c of CHAIN) {
                    const got = Option.getOrThrow(yield* store.commitSubDag(c.subDag.commitRef.index))
                    expect(subDagSummary(got)).toEqual(subDagSummary(c.subDag))
                  }
                  expect(Option.getOrThrow(yield* store.lastCommitOfEpoch(2))).toBe(9)
                })
              )
            )
          ),
          { numRuns: 8 }
        )
      ))

    it.effect("starts from a trusted checkpoint and syncs only what follows", () =>
      run(
        Effect.gen(function* () {
          const store = yield* Store
          // Commit 5 is mid-epoch 1: the checkpoint carries epoch 1's committee.
          const checkpoint = { commitRef: commitAt(5).subDag.commitRef, committee: commitAt(6).committee }
          const w = yield* store.initialise(checkpoint)
          expect({ ...w, highestSyncedDigest: hexOf(w.highestSyncedDigest) }).toEqual({
            highestSyncedCommit: 5,
            highestSyncedDigest: hexOf(commitAt(5).subDag.commitRef.digest),
            nextEpoch: 1,
            lowestAvailableCommit: 6
          })
          expect(yield* refusal(store.writeCommits(commits(5, 5)))).toBe("CommitAlreadyStored")
          yield* store.writeCommits(commits(6, 8))
          expect(Option.getOrThrow(yield* store.lastCommitOfEpoch(1))).toBe(6)
          expect(Option.isNone(yield* store.getCommit(5))).toBe(true)
          expect((yield* store.scanCommits(0, 100, 100)).map((c) => c.commit.index)).toEqual([6, 7, 8])
          // Same checkpoint again (a restart): unchanged. Another one: refused.
          expect((yield* store.initialise(checkpoint)).highestSyncedCommit).toBe(8)
          const other = { commitRef: commitAt(4).subDag.commitRef, committee: commitAt(4).committee }
          expect(yield* refusal(store.initialise(other))).toBe("CheckpointConflict")
          expect((yield* store.watermarks).lowestAvailableCommit).toBe(6)
        })
      ))

    it.effect("a store synced from genesis accepts the genesis checkpoint and refuses a foreign one", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(4)
          const genesis = { commitRef: { index: 0, digest: ZERO_DIGEST }, committee: commitAt(1).committee }
          expect((yield* store.initialise(genesis)).highestSyncedCommit).toBe(4)
          expect((yield* store.initialise(genesis)).highestSyncedCommit).toBe(4)
          const foreign = { commitRef: { index: 2, digest: commitAt(3).subDag.commitRef.digest }, committee: commitAt(1).committee }
          expect(yield* refusal(store.initialise(foreign))).toBe("CheckpointConflict")
        })
      ))

    it.effect("executor state: atomic writes, watermark rules, ordered prefix scans", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(3)
          const bytes = (...b: ReadonlyArray<number>) => Uint8Array.from(b)
          // Keys in UTF-8 byte order: z (7a) < é (c3 a9) < U+FFFF (ef bf bf) < 😀 (f0 9f 98 80).
          const keys = ["acct/z", "acct/é", "acct/\uffff", "acct/😀"]
          yield* store.writeExecution({
            watermark: 2,
            puts: [...[...keys].reverse().map((k, i) => [k, bytes(i)] as const), ["other", bytes(9)], ["acct/gone", bytes(8)]],
            deletes: []
          })
          expect(yield* store.executorWatermark).toBe(2)
          expect(Option.getOrThrow(yield* store.executorState("other"))).toEqual(bytes(9))
          expect(Option.isNone(yield* store.executorState("missing"))).toBe(true)
          const scan = yield* store.scanExecutorState("acct/", 100)
          expect(scan.map(([k]) => k)).toEqual(["acct/gone", ...keys])
          expect((yield* store.scanExecutorState("acct/", 2)).map(([k]) => k)).toEqual(["acct/gone", "acct/z"])
          expect((yield* store.scanExecutorState("acct/", 2, "acct/z")).map(([k]) => k)).toEqual(["acct/é", "acct/\uffff"])
          expect((yield* store.scanExecutorState("", 100)).map(([k]) => k)).toEqual(["acct/gone", ...keys, "other"])
          expect(yield* store.scanExecutorState("acct/", 100, "acct/😀")).toEqual([])
          expect(yield* store.scanExecutorState("zzz", 100)).toEqual([])

          // Deletes then puts, with the watermark, in one write.
          yield* store.writeExecution({ watermark: 3, puts: [["acct/gone", bytes(1, 2)]], deletes: ["acct/gone", "acct/z", "never-set"] })
          expect(Option.getOrThrow(yield* store.executorState("acct/gone"))).toEqual(bytes(1, 2))
          expect(Option.isNone(yield* store.executorState("acct/z"))).toBe(true)

          // Refused writes change nothing.
          expect(yield* refusal(store.writeExecution({ watermark: 2, puts: [["x", bytes(1)]], deletes: [] }))).toBe("ExecutorWatermark")
          expect(yield* refusal(store.writeExecution({ watermark: 4, puts: [["x", bytes(1)]], deletes: [] }))).toBe("ExecutorWatermark")
          expect(yield* refusal(store.writeExecution({ watermark: 3, puts: [["x", bytes(1)], ["", bytes(1)]], deletes: [] }))).toBe(
            "InvalidExecutorKey"
          )
          const long = "k".repeat(MAX_EXECUTOR_KEY_BYTES + 1)
          expect(yield* refusal(store.writeExecution({ watermark: 3, puts: [], deletes: [long] }))).toBe("InvalidExecutorKey")
          expect(Option.isNone(yield* store.executorState("x"))).toBe(true)
          expect(yield* store.executorWatermark).toBe(3)
        })
      ))

    it.effect("executor watermark compare-and-set: a write computed from another watermark is refused, even where it would fit", () =>
      run(
        Effect.gen(function* () {
          const store = yield* genesisThen(5)
          const bytes = (...b: ReadonlyArray<number>) => Uint8Array.from(b)
          yield* store.writeExecution({ watermark: 2, expectedWatermark: 0, puts: [["a", bytes(1)]], deletes: [] })
          // A second executor that also read 0 and executed 1..4: moving forward, but over a watermark it did not read.
          expect(yield* refusal(store.writeExecution({ watermark: 4, expectedWatermark: 0, puts: [["a", bytes(2)]], deletes: [] }))).toBe(
            "ExecutorWatermarkMoved"
          )
          // Same watermark, different base: still refused (it would re-record commits 1..2).
          expect(yield* refusal(store.writeExecution({ watermark: 2, expectedWatermark: 0, puts: [["a", bytes(3)]], deletes: [] }))).toBe(
            "ExecutorWatermarkMoved"
          )
          expect(yield* store.executorWatermark).toBe(2)
          expect(Option.getOrThrow(yield* store.executorState("a"))).toEqual(bytes(1))
          yield* store.writeExecution({ watermark: 4, expectedWatermark: 2, puts: [["a", bytes(4)]], deletes: [] })
          expect(yield* store.executorWatermark).toBe(4)
        })
      ))
  })
