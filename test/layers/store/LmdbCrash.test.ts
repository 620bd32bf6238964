/**
 * LMDB crash test: a child process writes a generated chain in small batches (commits + blocks +
 * certifier blocks + watermark in one transaction, then an executor write) and is killed with SIGKILL
 * at a random moment while it writes; the store is reopened and must be consistent — watermark h means
 * commits 1..h with all their blocks and hash links, nothing above h, every acknowledged batch kept,
 * executor state and watermark together. Five kills on the same store (each child resumes from the
 * stored watermark), then a last child that runs to the end.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { toHex } from "../../../src/domain/bytes.js"
import { reachesQuorum } from "../../../src/domain/committee.js"
import { ChainGenerator } from "../../../src/testkit/chain.js"
import { LmdbStoreLayer } from "../../../src/layers/store/LmdbStoreLayer.js"
import { Store } from "../../../src/services/Store.js"
import { saveChain } from "../../fixtures/store/chainFile.js"
import { subDagSummary } from "./storeContract.js"

const COMMITS = 500
const KILLS = 5
/** The child writes ~1 commit/ms here; kills land within the first 40 ms of writing, far from the end. */
const MAX_KILL_DELAY_MS = 40

const CHAIN = new ChainGenerator({ seed: 11, validators: 4, commitsPerEpoch: 25, transactionsPerBlock: 2 }).take(COMMITS)
const dir = mkdtempSync(join(tmpdir(), "soma-store-crash-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const chainPath = join(dir, "chain.json")
saveChain(chainPath, CHAIN)
const storePath = join(dir, "store")
const writer = join(import.meta.dirname, "../../fixtures/store/crashWriter.ts")

interface RunResult {
  readonly start: number
  /** Highest `wrote h` printed: acknowledged, so it must survive the crash. */
  readonly acked: number
  readonly finished: boolean
  readonly signal: NodeJS.Signals | null
}

/** Runs the writer; kills it `killAfterMs` after it reports ready (never, when undefined). */
const runWriter = (killAfterMs: number | undefined): Promise<RunResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", writer, chainPath, storePath], { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] })
    let start = -1
    let acked = -1
    let finished = false
    let pending = ""
    let stderr = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      pending += chunk
      const lines = pending.split("\n")
      pending = lines.pop() ?? ""
      for (const line of lines) {
        const [word, value] = line.split(" ")
        if (word === "ready") {
          start = Number(value)
          acked = start
          if (killAfterMs !== undefined) setTimeout(() => child.kill("SIGKILL"), killAfterMs)
        } else if (word === "wrote") acked = Number(value)
        else if (word === "done") finished = true
      }
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      if (start < 0 || (signal === null && code !== 0)) reject(new Error(`writer exited (code ${code}, signal ${signal}) before writing: ${stderr}`))
      else resolve({ start, acked, finished, signal })
    })
  })

/** Reopens the store and checks every invariant; returns its highest synced commit. */
const checkConsistent = (acked: number) =>
  Effect.gen(function* () {
    const store = yield* Store
    const w = yield* store.watermarks
    const h = w.highestSyncedCommit
    expect(h).toBeGreaterThanOrEqual(acked)
    expect(h).toBeLessThanOrEqual(COMMITS)
    let previous = toHex(new Uint8Array(32))
    for (let i = 1; i <= h; i++) {
      const subDag = Option.getOrThrow(yield* store.commitSubDag(i))
      expect(toHex(subDag.previousDigest)).toBe(previous)
      expect(subDagSummary(subDag)).toEqual(subDagSummary(CHAIN[i - 1]!.subDag))
      previous = toHex(subDag.commitRef.digest)
    }
    expect(toHex(w.highestSyncedDigest)).toBe(previous)
    expect(Option.isNone(yield* store.getCommit(h + 1))).toBe(true)
    expect(yield* store.scanCommits(h + 1, 0xffff_ffff, 10)).toEqual([])
    if (h < COMMITS) expect(w.nextEpoch).toBe(CHAIN[h]!.subDag.epoch)
    // Epoch bookkeeping went in with the commits that closed each epoch.
    for (const c of CHAIN.filter((c) => c.lastOfEpoch)) {
      const last = yield* store.lastCommitOfEpoch(c.subDag.epoch)
      expect(Option.getOrUndefined(last)).toBe(c.subDag.commitRef.index <= h ? c.subDag.commitRef.index : undefined)
      expect(Option.isSome(yield* store.getCommittee(c.subDag.epoch + 1))).toBe(c.subDag.commitRef.index <= h)
    }
    if (h > 0) {
      // The certifier blocks of the last commit were in its batch: its quorum of votes is there.
      const digest = toHex(CHAIN[h - 1]!.subDag.commitRef.digest)
      const voters = (yield* store.commitVotes(h, 1000)).filter((v) => toHex(v.commit.digest) === digest).map((v) => v.voter.author)
      expect(reachesQuorum(CHAIN[h - 1]!.committee, voters)).toBe(true)
    }
    // Executor: watermark and state written together, never ahead of the synced commits.
    const executed = yield* store.executorWatermark
    expect(executed).toBeLessThanOrEqual(h)
    const digests = yield* store.scanExecutorState("digest/", 10)
    if (executed > 0) {
      expect(Array.from(Option.getOrThrow(yield* store.executorState("synced")))).toEqual([0, 0, executed >> 8, executed & 0xff])
      expect(digests.map(([k, v]) => [k, toHex(v)])).toEqual([[`digest/${executed}`, toHex(CHAIN[executed - 1]!.subDag.commitRef.digest)]])
    } else expect(digests).toEqual([])
    return h
  }).pipe(Effect.provide(LmdbStoreLayer(storePath)))

describe("LMDB store under kill -9", () => {
  it.effect(`stays consistent across ${KILLS} SIGKILLs at random moments, then finishes`, () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      let synced = 0
      for (let run = 0; run < KILLS; run++) {
        const delay = Math.floor(Math.random() * MAX_KILL_DELAY_MS)
        const result = yield* Effect.promise(() => runWriter(delay))
        expect(result.start).toBe(synced)
        expect(result.signal).toBe("SIGKILL")
        expect(result.finished).toBe(false)
        const h = yield* checkConsistent(result.acked)
        log.push(`kill after ${delay} ms: acked ${result.acked}, reopened at ${h}`)
        synced = h
      }
      const last = yield* Effect.promise(() => runWriter(undefined))
      expect(last.finished).toBe(true)
      expect(yield* checkConsistent(COMMITS)).toBe(COMMITS)
      console.log(`crash test (${COMMITS} commits):\n  ${log.join("\n  ")}\n  final run from ${last.start} to ${COMMITS}`)
      expect(synced).toBeGreaterThan(0)
    }))
})
